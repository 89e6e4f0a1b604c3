//go:build benchplaintext

package server

// plaintextBenchmark: this binary was built with -tags benchplaintext to
// measure the overhead of encryption. It stores data in the clear.
const plaintextBenchmark = true
