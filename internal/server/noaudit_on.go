//go:build benchnoaudit

package server

// noAuditBenchmark: this binary was built with -tags benchnoaudit to
// measure the cost of the audit trail. It records NOTHING.
const noAuditBenchmark = true
