package main

import (
	"cmp"
	"io/fs"
	"path/filepath"
	"slices"
	"syscall"
)

// diskUsage is the size of the server's data directory.
type diskUsage struct {
	Dir            string     `json:"dir"`
	When           string     `json:"when"` // "after ingest" or "at the end"
	Files          int        `json:"files"`
	ApparentBytes  int64      `json:"apparent_bytes"`  // sum of file sizes
	AllocatedBytes int64      `json:"allocated_bytes"` // blocks on disk (st_blocks × 512)
	Largest        []fileSize `json:"largest"`
}

type fileSize struct {
	Path  string `json:"path"` // relative to Dir
	Bytes int64  `json:"bytes"`
}

// measureDir sums every regular file under dir, SQLite -wal and -shm files
// included, and keeps the five largest.
func measureDir(dir, when string) (*diskUsage, error) {
	u := &diskUsage{Dir: dir, When: when}
	var files []fileSize
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.Type().IsRegular() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		u.Files++
		u.ApparentBytes += info.Size()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			u.AllocatedBytes += st.Blocks * 512
		}
		rel, _ := filepath.Rel(dir, path)
		files = append(files, fileSize{Path: rel, Bytes: info.Size()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(files, func(a, b fileSize) int { return cmp.Compare(b.Bytes, a.Bytes) })
	u.Largest = files[:min(5, len(files))]
	return u, nil
}
