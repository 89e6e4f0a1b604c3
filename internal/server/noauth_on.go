//go:build benchnoauth

package server

// noAuthBenchmark: this binary was built with -tags benchnoauth to measure
// the cost of authentication. It checks NO access token: every request is
// a service with every system scope.
const noAuthBenchmark = true
