// Package view renders what flareform's commands print: plans, apply and destroy results,
// smoke reports, rate-budget estimates, key rotation summaries, outputs and JSON documents.
//
// The engine (package provision) computes plans and results as data; this package turns that
// data into text, and nothing else does. Every function here is a pure function of its
// arguments written to an io.Writer (the command's IOStreams), so commands stay thin: they
// parse flags, call provision, and call view. Decisions that depend on the surroundings (is
// stdout a terminal, --json, --no-color, the working directory) are the caller's and come in
// as arguments.
package view
