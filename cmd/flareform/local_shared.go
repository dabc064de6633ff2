package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/provision"
	"github.com/flareform/flareform/provision/keystore"
)

// localServerFile, in the project's .flareform directory, tells --local commands that a
// `flareform local` serves this project's state directory, and how to reach it. Only that
// process can hold the state directory's lock, so the others must talk to it rather than start
// their own local Cloudflare on the same state. It holds the local (throwaway) token: 0600.
const localServerFile = "local-server.json"

// localInfoOf is what a running local Cloudflare tells its clients.
func localInfoOf(srv *localcf.Server) localInfo {
	return localInfo{
		APIBaseURL:     srv.APIBaseURL(),
		APIToken:       srv.Token(),
		AccountID:      srv.AccountID(),
		Subdomain:      srv.Subdomain(),
		WorkersDevAddr: srv.WorkersDevAddr(),
	}
}

// localInfoEnv overlays a local Cloudflare's endpoint and credentials on getenv.
func localInfoEnv(info localInfo, getenv func(string) string) func(string) string {
	values := map[string]string{
		envAPIBaseURL:     info.APIBaseURL,
		envAPIToken:       info.APIToken,
		envAccountID:      info.AccountID,
		envWorkersDevAddr: info.WorkersDevAddr,
	}
	return func(name string) string {
		if v, ok := values[name]; ok {
			return v
		}
		return getenv(name)
	}
}

// publishLocalServer writes the server file for the project whose .flareform directory is dir;
// the returned func removes it again.
func publishLocalServer(dir string, info localInfo) (func(), error) {
	data, err := json.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("encode local server info: %w", err)
	}
	path := filepath.Join(dir, localServerFile)
	if err := keystore.WriteFileAtomic(path, append(data, '\n')); err != nil {
		return nil, fmt.Errorf("publish the local Cloudflare in %s: %w", path, err)
	}
	return func() { os.Remove(path) }, nil
}

// runningLocal finds the `flareform local` serving this project, if one answers. A file left
// by a server that died (its lock died with it) is ignored.
func (o *rootOptions) runningLocal(ctx context.Context) (localInfo, bool) {
	dir, err := o.projectDir()
	if err != nil {
		return localInfo{}, false
	}
	data, err := os.ReadFile(filepath.Join(dir, localServerFile))
	if err != nil {
		return localInfo{}, false
	}
	var info localInfo
	if json.Unmarshal(data, &info) != nil || info.APIBaseURL == "" {
		return localInfo{}, false
	}
	return info, localAnswers(ctx, info)
}

// localAnswers asks the server's info endpoint whether it is up and holds the token.
func localAnswers(ctx context.Context, info localInfo) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	u, err := url.Parse(info.APIBaseURL)
	if err != nil {
		return false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.Scheme+"://"+u.Host+"/__localcf/info", nil)
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "Bearer "+info.APIToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	return res.StatusCode == http.StatusOK
}

// projectLocalState says which state directory `flareform local` serves: the project's
// (<spec dir>/.flareform/local, the one --local uses) when -f names a spec or a flareform.yaml
// is in the working directory and --state is not given; else --state.
func (o *localOptions) projectLocalState(fileFlagSet, stateFlagSet bool) (string, bool) {
	if o.Memory || stateFlagSet {
		return "", false
	}
	if !fileFlagSet {
		if _, err := os.Stat(o.File); errors.Is(err, fs.ErrNotExist) || err != nil {
			return "", false
		}
	}
	dir, err := o.localStateDir()
	if err != nil {
		return "", false
	}
	return dir, true
}

// hintLocalReach tells, after an apply on an embedded local Cloudflare, how to reach the
// workers: that server stops with the command, so the URLs it printed answer only while
// `flareform local` serves the same state.
func (s *session) hintLocalReach(opts *rootOptions, res *provision.Result) {
	if s.local == nil || opts.JSON || len(res.Workers) == 0 {
		return
	}
	name := res.Workers[0].Name
	specArg := ""
	if opts.File != "flareform.yaml" {
		specArg = " -f " + opts.File
	}
	w := opts.IO.Out
	fmt.Fprintf(w, "\nThe local Cloudflare stopped with this command. To call the workers, run in another shell\n")
	fmt.Fprintf(w, "  flareform local%s\n", specArg)
	fmt.Fprintf(w, "and then\n")
	fmt.Fprintf(w, "  flareform invoke%s --local %s --prompt \"...\" -o answer.png\n", specArg, name)
}
