package localcf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
)

// appendLog keeps records of one kind (Analytics Engine data points, neuron records) in memory
// and, with a state directory, durably in a file of JSON lines. Each record is one write with
// O_APPEND followed by fsync, so a crash loses at most a record whose write had not returned,
// and can only cut the file's last line: loading drops a cut last line and truncates the file
// to the last whole record, so the next append starts on a line of its own.
type appendLog[T any] struct {
	path string // "" = memory only

	mu      sync.Mutex
	records []T
}

// openAppendLog loads the records of path ("" = memory only); a missing file is empty.
func openAppendLog[T any](path string) (*appendLog[T], error) {
	l := &appendLog[T]{path: path}
	if path == "" {
		return l, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		// Created (and its directory entry synced) here, so appends never create it.
		if err := writeFileAtomic(path, nil, 0o600); err != nil {
			return nil, fmt.Errorf("create %s: %w", path, err)
		}
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	good, err := l.decode(data)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if good < len(data) {
		if err := os.Truncate(path, int64(good)); err != nil {
			return nil, fmt.Errorf("drop the cut last record of %s: %w", path, err)
		}
	}
	return l, nil
}

// decode reads whole lines into records and returns the length of the whole-record prefix.
// A cut or unreadable last line is what a crash mid-write leaves; one before it is corruption.
func (l *appendLog[T]) decode(data []byte) (int, error) {
	good := 0
	for good < len(data) {
		end := bytes.IndexByte(data[good:], '\n')
		if end < 0 {
			return good, nil // cut last line
		}
		line := data[good : good+end]
		var rec T
		if err := json.Unmarshal(line, &rec); err != nil {
			if good+end+1 == len(data) {
				return good, nil
			}
			return 0, fmt.Errorf("record at byte %d: %w", good, err)
		}
		l.records = append(l.records, rec)
		good += end + 1
	}
	return good, nil
}

// add stores rec durably, then in memory; an error means it was not stored.
func (l *appendLog[T]) add(rec T) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.path != "" {
		if err := appendDurably(l.path, append(line, '\n')); err != nil {
			return err
		}
	}
	l.records = append(l.records, rec)
	return nil
}

// appendDurably appends data to path in one write and syncs it before returning.
func appendDurably(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("append to %s: %w", path, werr)
	}
	return nil
}

// each calls fn on every record (oldest first) while holding the log; fn must not call back.
func (l *appendLog[T]) each(fn func(rec *T)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.records {
		fn(&l.records[i])
	}
}
