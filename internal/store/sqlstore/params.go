package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// paramCache maps search parameter keys to the small integers that index
// rows store. Keys are registered by the writer; readers that meet a key
// the cache does not know look it up (another process may have added it).
type paramCache struct {
	mu   sync.RWMutex
	byID map[string]int64
}

func newParamCache() *paramCache { return &paramCache{byID: make(map[string]int64)} }

func (c *paramCache) load(ctx context.Context, q Querier) error {
	rows, err := q.QueryContext(ctx, `SELECT pid, key FROM param`)
	if err != nil {
		return fmt.Errorf("load parameters: %w", err)
	}
	defer rows.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	for rows.Next() {
		var pid int64
		var key string
		if err := rows.Scan(&pid, &key); err != nil {
			return fmt.Errorf("load parameters: %w", err)
		}
		c.byID[key] = pid
	}
	return rows.Err()
}

func (c *paramCache) get(key string) (int64, bool) {
	c.mu.RLock()
	pid, ok := c.byID[key]
	c.mu.RUnlock()
	return pid, ok
}

func (c *paramCache) put(m map[string]int64) {
	c.mu.Lock()
	for k, v := range m {
		c.byID[k] = v
	}
	c.mu.Unlock()
}

// lookup finds a key for a query. A key that was never registered has no
// rows; it gets the id -1, which matches nothing.
func (c *paramCache) lookup(ctx context.Context, q Querier, key string) (int64, error) {
	if pid, ok := c.get(key); ok {
		return pid, nil
	}
	var pid int64
	err := q.QueryRowContext(ctx, `SELECT pid FROM param WHERE key = ?`, key).Scan(&pid)
	if errors.Is(err, sql.ErrNoRows) {
		return -1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("look up parameter: %w", err)
	}
	c.put(map[string]int64{key: pid})
	return pid, nil
}

// pid returns the id of key, registering it in the batch transaction.
func (w *Writer) pid(key string) (int64, error) {
	if pid, ok := w.core.params.get(key); ok {
		return pid, nil
	}
	if pid, ok := w.newParams[key]; ok {
		return pid, nil
	}
	// Another writer (a node of a PostgreSQL deployment) may register the
	// same key meanwhile: the insert then does nothing, and the key is read.
	var pid int64
	err := w.tx.QueryRowContext(w.ctx, w.core.Rebind(`INSERT INTO param (key) VALUES (?) ON CONFLICT (key) DO NOTHING RETURNING pid`), key).Scan(&pid)
	if errors.Is(err, sql.ErrNoRows) {
		err = w.tx.QueryRowContext(w.ctx, w.core.Rebind(`SELECT pid FROM param WHERE key = ?`), key).Scan(&pid)
	} else if err == nil {
		w.jobParams = append(w.jobParams, key)
	}
	if err != nil {
		return 0, fmt.Errorf("register parameter: %w", err)
	}
	if w.newParams == nil {
		w.newParams = make(map[string]int64)
	}
	w.newParams[key] = pid
	return pid, nil
}
