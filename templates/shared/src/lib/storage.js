// Storage helpers shared by flareform templates: keeping what a model made in an R2 bucket the
// Worker binds (flareform.yaml `r2:`), under a key generated here, never one the caller picks.

// storeRequested reports whether the caller asked to keep the output: `?store=1`. Anything else
// (no parameter, store=0, store=true) keeps the default answer.
export function storeRequested(request) {
  return new URL(request.url).searchParams.get("store") === "1";
}

// EXTENSIONS name an object by its content type; others get no extension.
const EXTENSIONS = { "image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp" };

// objectKey is a new key for an object of contentType under prefix:
// "<prefix>/<YYYY-MM-DD>/<random UUID><.ext>". The date groups a day's objects for listing and
// clean-up; the UUID makes keys unguessable and never reused.
export function objectKey(prefix, contentType, now = new Date()) {
  const day = now.toISOString().slice(0, 10);
  return `${prefix}/${day}/${crypto.randomUUID()}${EXTENSIONS[contentType] || ""}`;
}

// MAX_METADATA_CHARS keeps custom metadata within R2's 2 KiB limit even for 4-byte characters.
const MAX_METADATA_CHARS = 256;

// storeObject puts bytes into bucket (an R2 binding) under a new key (objectKey) with their
// content type and the given custom metadata (each value cut to MAX_METADATA_CHARS), and returns
// {key, content_type, size}: what the caller needs to find the object again.
export async function storeObject(bucket, prefix, bytes, contentType, metadata = {}) {
  const key = objectKey(prefix, contentType);
  const customMetadata = {};
  for (const [k, v] of Object.entries(metadata)) {
    customMetadata[k] = String(v).slice(0, MAX_METADATA_CHARS);
  }
  await bucket.put(key, bytes, { httpMetadata: { contentType }, customMetadata });
  return { key, content_type: contentType, size: bytes.byteLength };
}
