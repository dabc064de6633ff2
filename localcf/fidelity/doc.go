// Package fidelity holds no code of its own: its tests run real clients unmodified against the
// local Cloudflare (wrangler 4.86 on Node 20, the newest wrangler 4.x and Alchemy 0.94 on Node 22,
// all pinned in clients/ and installed by `make clients`, and cloudflare-go v6), and deploy the
// canonical text-to-image worker through the API, to prove the local server is faithful enough
// that those clients cannot tell it from the real API. A missing client fails its test.
package fidelity
