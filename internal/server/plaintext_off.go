//go:build !benchplaintext

package server

// plaintextBenchmark is false in every real build: encryption at rest is
// always on. Only a binary built with -tags benchplaintext (to measure the
// overhead of encryption) stores data in the clear; no configuration can.
const plaintextBenchmark = false
