//go:build !benchnoaudit

package server

// noAuditBenchmark is false in every real build: every interaction is
// audited. Only a binary built with -tags benchnoaudit (to measure the
// cost of auditing) records nothing; no configuration can turn it off.
const noAuditBenchmark = false
