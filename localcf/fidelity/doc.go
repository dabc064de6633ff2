// Package fidelity holds no code of its own: its tests run the official Cloudflare clients
// (wrangler from npm and cloudflare-go v6) unmodified against the local Cloudflare, and deploy
// the canonical text-to-image worker through the API, to prove the local server is faithful
// enough that those clients cannot tell it from the real API.
package fidelity
