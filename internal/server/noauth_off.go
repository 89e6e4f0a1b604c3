//go:build !benchnoauth

package server

// noAuthBenchmark is false in every product build: see noauth_on.go.
const noAuthBenchmark = false
