// env.DB (a D1 database) for locally run workers: a wrapped binding whose inner `backend`
// service is localcf and whose inner `config` (JSON set by localcf) names the account and the
// database. localcf runs the SQL on the database's SQLite file: POST /d1/query with the
// statements of one prepare() or batch(), POST /d1/exec with exec()'s SQL; each call is one
// transaction. Rows come back as arrays; this module turns them into D1's shapes.

function d1Error(message) {
  // D1 throws an Error whose message starts with its kind ("D1_ERROR: ...") and whose cause
  // holds the database's own message.
  const colon = message.indexOf(": ");
  const inner = colon >= 0 ? message.slice(colon + 2) : message;
  return new Error(message, { cause: new Error(inner) });
}

async function call(backend, path, body) {
  let resp;
  try {
    resp = await backend.fetch(`http://ai${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (err) {
    // A network error escaping a fetch handler makes workerd drop the client connection
    // without a response; a plain Error becomes a normal 500.
    throw new Error(`D1_ERROR: binding request failed: ${err && err.message ? err.message : err}`);
  }
  const text = await resp.text();
  if (resp.status !== 200) {
    let message;
    try {
      message = JSON.parse(text).errors[0].message;
    } catch {
      message = `D1_ERROR: ${resp.status}: ${text || resp.statusText}`;
    }
    throw d1Error(message);
  }
  return JSON.parse(text);
}

// bindValue converts one bind() argument the way D1 does: booleans become 1/0, ArrayBuffers
// and typed arrays become BLOBs (arrays of byte values); undefined, objects, functions,
// symbols and bigints are refused.
function bindValue(value) {
  switch (typeof value) {
    case "string":
      return value;
    case "number":
      return value;
    case "boolean":
      return value ? 1 : 0;
    case "object":
      if (value === null) return null;
      if (value instanceof ArrayBuffer) return Array.from(new Uint8Array(value));
      if (ArrayBuffer.isView(value)) return Array.from(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
      break;
  }
  throw new Error(`D1_TYPE_ERROR: Type '${typeof value}' not supported for value '${String(value)}'`, {
    cause: new Error(`Type '${typeof value}' not supported for value '${String(value)}'`),
  });
}

// rowObject makes an object of a row in column order; a repeated column name keeps its
// last value, as D1 does.
function rowObject(columns, row) {
  const obj = {};
  for (let i = 0; i < columns.length; i++) obj[columns[i]] = row[i];
  return obj;
}

function d1Result(entry) {
  return {
    success: true,
    meta: entry.meta,
    results: entry.rows.map((row) => rowObject(entry.columns, row)),
  };
}

const SQL = Symbol("sql");
const PARAMS = Symbol("params");
const DB = Symbol("db");
const QUERY = Symbol("query");

class D1PreparedStatement {
  constructor(db, sql, params) {
    this[DB] = db;
    this[SQL] = sql;
    this[PARAMS] = params;
  }

  bind(...values) {
    return new D1PreparedStatement(this[DB], this[SQL], values.map(bindValue));
  }

  async #one() {
    const { results } = await this[DB][QUERY]([this]);
    return results[0];
  }

  async first(column) {
    const entry = await this.#one();
    if (entry.rows.length === 0) return null;
    const row = rowObject(entry.columns, entry.rows[0]);
    if (column === undefined) return row;
    if (!(column in row)) {
      throw new Error("D1_COLUMN_NOTFOUND", { cause: new Error(`Column not found: ${column}`) });
    }
    return row[column];
  }

  async all() {
    return d1Result(await this.#one());
  }

  async run() {
    return d1Result(await this.#one());
  }

  async raw(options) {
    const entry = await this.#one();
    const rows = entry.rows;
    if (options && options.columnNames) return [entry.columns, ...rows];
    return rows;
  }
}

class D1Database {
  #backend;
  #config;

  constructor(backend, config) {
    this.#backend = backend;
    this.#config = config;
  }

  [QUERY](statements) {
    return call(this.#backend, "/d1/query", {
      ...this.#config,
      statements: statements.map((s) => ({ sql: s[SQL], params: s[PARAMS] })),
    });
  }

  prepare(query) {
    if (typeof query !== "string") throw new TypeError("D1Database.prepare: the query must be a string");
    return new D1PreparedStatement(this, query, []);
  }

  async batch(statements) {
    const list = Array.from(statements ?? []);
    for (const s of list) {
      if (!(s instanceof D1PreparedStatement) || s[DB] !== this) {
        throw new TypeError("D1Database.batch: every item must be a statement from this database's prepare()");
      }
    }
    if (list.length === 0) return [];
    const { results } = await this[QUERY](list);
    return results.map(d1Result);
  }

  async exec(query) {
    if (typeof query !== "string") throw new TypeError("D1Database.exec: the query must be a string");
    return await call(this.#backend, "/d1/exec", { ...this.#config, sql: query });
  }

  async dump() {
    throw new Error("D1_DUMP_ERROR: dump() is not supported by D1 databases on the current storage backend");
  }

  // Sessions (read replication) have one copy locally: a session is the database itself.
  withSession() {
    const db = this;
    return {
      prepare: (query) => db.prepare(query),
      batch: (statements) => db.batch(statements),
      getBookmark: () => null,
    };
  }
}

export function d1(env) {
  return new D1Database(env.backend, env.config);
}
