package provision

import (
	"context"
	"sync"

	"github.com/flareform/flareform/provision/spec"
)

// keyPregen generates keys, with their fingerprints, while a plan waits for the API, for the
// workers this machine has never seen (most likely being created, so apply will generate their
// keys): the upload then finds them ready. A key nobody takes is dropped with the engine: it was
// never recorded or sent.
type keyPregen struct {
	mu   sync.Mutex
	keys map[[2]string]*pregenKey // by script name and binding
}

type pregenKey struct {
	done chan struct{}
	key  string // "" when generation failed: apply generates one itself
}

// pregenerateKeys begins generating a key for each worker of s that generates its key and is unknown to
// this machine's version cache.
func (e *Engine) pregenerateKeys(ctx context.Context, s *spec.Spec, accountID string) {
	for _, w := range s.Workers {
		if w.APIKey == nil || w.APIKey.From != "generate" || e.versions.known(e.cfg.APIBaseURL, accountID, w.Name) {
			continue
		}
		k := &pregenKey{done: make(chan struct{})}
		e.pregen.mu.Lock()
		if e.pregen.keys == nil {
			e.pregen.keys = map[[2]string]*pregenKey{}
		}
		e.pregen.keys[[2]string{w.Name, w.APIKey.Binding}] = k
		e.pregen.mu.Unlock()
		go func() {
			defer close(k.done)
			if ctx.Err() != nil {
				return
			}
			key, err := generateKey()
			if err != nil {
				return
			}
			e.fingerprints.forGeneratedKey(w.Name, w.APIKey.Binding, key) // kept for the upload
			k.key = key
		}()
	}
}

// takePregenerated returns a key generated ahead for the worker's binding, once ("" when none).
func (e *Engine) takePregenerated(scriptName, binding string) string {
	e.pregen.mu.Lock()
	k := e.pregen.keys[[2]string{scriptName, binding}]
	delete(e.pregen.keys, [2]string{scriptName, binding})
	e.pregen.mu.Unlock()
	if k == nil {
		return ""
	}
	<-k.done
	return k.key
}
