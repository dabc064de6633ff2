package confined

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Tree is the project's tree: the files a worker's code may import and the spec may name lie
// inside it. Root is a real path (no symlinks).
type Tree struct {
	Root string
}

// ProjectTree is the tree of the project whose spec is at specPath: the nearest folder at or
// above the spec's folder that holds `.git` (so a monorepo's `../packages/lib` keeps working),
// else the spec's folder itself. node_modules inside it are part of it.
func ProjectTree(specPath string) (*Tree, error) {
	abs, err := filepath.Abs(specPath)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", specPath, err)
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("resolve the folder of %s: %w", specPath, unwrapPath(err))
	}
	for d := dir; ; {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return &Tree{Root: d}, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return &Tree{Root: dir}, nil
		}
		d = parent
	}
}

// Contains reports whether real (a path with symlinks resolved) lies inside the tree.
func (t *Tree) Contains(real string) bool {
	if real == t.Root {
		return true
	}
	root := t.Root
	if !strings.HasSuffix(root, string(filepath.Separator)) {
		root += string(filepath.Separator)
	}
	return strings.HasPrefix(real, root)
}

func (t *Tree) outside(path, real string, kind Kind) error {
	how := ""
	if abs, err := filepath.Abs(path); err == nil && abs != real {
		how = fmt.Sprintf(" (it resolves to %s)", real)
	}
	return refuse(path, fmt.Sprintf("move the file into the project, or make the project's root (the folder holding .git) include it; %s", kind.Fix),
		"%s: lies outside the project %s%s; a %s must lie inside it", path, t.Root, how, kind.Name)
}
