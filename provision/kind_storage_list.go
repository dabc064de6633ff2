package provision

import (
	"context"
	"fmt"
)

// find and nameOf of the storage kinds whose objects the account list names by id (KV
// namespaces, D1 databases): both answer from the plan's one read of that list.

// findListed is find over a listed kind: the id of the object named name and what obj makes of
// it; "" and nil when the list has no such object.
func findListed(l *storageList, err error, name string, obj func(id string) any) (string, any, error) {
	if err != nil {
		return "", nil, err
	}
	id, ok := l.byName[name]
	if !ok {
		return "", nil, nil
	}
	return id, obj(id), nil
}

// nameListed is nameOf over a listed kind: the name of the object with id, if listed.
func nameListed(l *storageList, err error, id string) (string, bool, error) {
	if err != nil {
		return "", false, err
	}
	name, ok := l.byID[id]
	return name, ok, nil
}

// readListed reads a listed kind's objects at path once per plan (cachedList, under kind):
// idName says what id and name each answers (what names them in errors).
func readListed[T any](ctx context.Context, e *Engine, kind, path, what string, idName func(T) (string, string)) (*storageList, error) {
	return cachedList(ctx, kind, func() (*storageList, error) {
		l := &storageList{byName: map[string]string{}, byID: map[string]string{}}
		err := listPages(ctx, e, path, func(v T) {
			id, name := idName(v)
			l.byName[name], l.byID[id] = id, name
		})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", what, err)
		}
		return l, nil
	})
}
