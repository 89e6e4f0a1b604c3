package sqlstore

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// StmtPool runs queries on the read connections through prepared
// statements kept by their SQL text: parsing and planning a statement
// costs more than running a typical read. Search SQL has a bounded number
// of shapes (values are always parameters); past maxStatements, further
// shapes run unprepared.
type StmtPool struct {
	db    *sql.DB
	stmts sync.Map // string -> *sql.Stmt
	n     atomic.Int32
}

const maxStatements = 512

// NewStmtPool returns a StmtPool on db.
func NewStmtPool(db *sql.DB) *StmtPool { return &StmtPool{db: db} }

func (p *StmtPool) stmt(ctx context.Context, query string) *sql.Stmt {
	if s, ok := p.stmts.Load(query); ok {
		return s.(*sql.Stmt)
	}
	if p.n.Load() >= maxStatements {
		return nil
	}
	s, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil // the query itself will report the error
	}
	if prev, loaded := p.stmts.LoadOrStore(query, s); loaded {
		s.Close()
		return prev.(*sql.Stmt)
	}
	p.n.Add(1)
	return s
}

func (p *StmtPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := p.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return p.db.QueryContext(ctx, query, args...)
}

func (p *StmtPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := p.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return p.db.QueryRowContext(ctx, query, args...)
}

// Close closes the prepared statements (not the pool).
func (p *StmtPool) Close() {
	p.stmts.Range(func(_, s any) bool {
		s.(*sql.Stmt).Close()
		return true
	})
}
