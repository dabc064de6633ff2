package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/flareform/flareform/internal/confined"
	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/provision/keystore"
)

// localServerFile, in the project's .flareform directory, tells --local commands that a
// `flareform local` serves this project's state directory, and how to reach it. Only that
// process can hold the state directory's lock, so the others must talk to it rather than start
// their own local Cloudflare on the same state. It holds the local (throwaway) token: 0600.
const localServerFile = "local-server.json"

// localServerKind is the server file as --local commands read it: a few hundred bytes of JSON.
var localServerKind = confined.Kind{Name: "local server file", Limit: 64 << 10,
	Fix: "stop the project's `flareform local` and start it again: it writes the file anew"}

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
	tree, err := confined.ProjectTree(o.File)
	if err != nil {
		return localInfo{}, false
	}
	// A regular file inside the project, as `flareform local` writes it: a FIFO or a link to
	// /dev/zero left in its place must not hang or exhaust this command.
	data, err := confined.ReadFile(filepath.Join(dir, localServerFile), localServerKind, tree)
	if err != nil {
		return localInfo{}, false
	}
	var info localInfo
	if json.Unmarshal(data, &info) != nil || info.APIBaseURL == "" {
		return localInfo{}, false
	}
	_, up := askLocalInfo(ctx, info.APIBaseURL, info.APIToken)
	return info, up
}

// askLocalInfo asks a local Cloudflare's info endpoint (on the API's host) what it serves;
// false when nothing answers there with that token, e.g. the real Cloudflare API.
func askLocalInfo(ctx context.Context, apiBaseURL, token string) (localInfo, bool) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	u, err := url.Parse(apiBaseURL)
	if err != nil {
		return localInfo{}, false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.Scheme+"://"+u.Host+"/__localcf/info", nil)
	if err != nil {
		return localInfo{}, false
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return localInfo{}, false
	}
	defer res.Body.Close()
	var info localInfo
	if res.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&info) != nil {
		return localInfo{}, false
	}
	return info, true
}

// workersDevAddr is where this session reaches workers.dev: the local Cloudflare's data plane
// (from FLAREFORM_WORKERS_DEV_ADDR, or asked of a local API on loopback, as smoke does), or ""
// for the real workers.dev.
func (s *session) workersDevAddr(ctx context.Context) string {
	if addr := s.getenv(envWorkersDevAddr); addr != "" {
		return addr
	}
	base := s.getenv(envAPIBaseURL)
	u, err := url.Parse(base)
	if err != nil || !isLoopbackHost(u.Hostname()) {
		return ""
	}
	info, _ := askLocalInfo(ctx, base, s.getenv(envAPIToken))
	return info.WorkersDevAddr
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
