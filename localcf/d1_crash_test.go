package localcf

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// d1ChildEnv makes TestD1KillChild act as a server process that inserts rows one by one and
// prints "ack N" after each acknowledged insert, until it is killed.
const d1ChildEnv = "LOCALCF_TEST_D1_CHILD"

// TestD1KillChild is the child process of TestD1SurvivesKill9; on its own it does nothing.
func TestD1KillChild(t *testing.T) {
	spec := os.Getenv(d1ChildEnv) // "<state dir>|<database uuid>"
	if spec == "" {
		t.Skip("only runs as the child of TestD1SurvivesKill9")
	}
	dir, uuid, _ := strings.Cut(spec, "|")
	srv, err := Start(context.Background(), Options{StateDir: dir})
	if err != nil {
		fmt.Println("start:", err)
		os.Exit(2)
	}
	url := srv.APIBaseURL() + "/accounts/" + srv.AccountID() + "/d1/database/" + uuid + "/query"
	fmt.Println("ready")
	for i := 1; ; i++ {
		body := fmt.Sprintf(`{"sql":"INSERT INTO rows (n, pad) VALUES (?, ?)","params":[%d,%q]}`, i, strings.Repeat("x", 2000))
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+srv.Token())
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			fmt.Printf("ack %d\n", i)
		}
	}
}

// TestD1SurvivesKill9: every insert the API acknowledged is there after SIGKILL and a
// restart, and the database passes SQLite's integrity check.
func TestD1SurvivesKill9(t *testing.T) {
	dir := t.TempDir()
	srv := startTestServer(t, Options{StateDir: dir})
	c := newClient(t, srv)
	db := createD1DB(t, c, "crashy")
	d1Query(t, c, db.UUID, "CREATE TABLE rows (n INTEGER PRIMARY KEY, pad TEXT)")
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	for round := 0; round < 2; round++ {
		acked := runD1ChildUntilKilled(t, dir, db.UUID, time.Duration(150+round*150)*time.Millisecond)
		srv := startTestServer(t, Options{StateDir: dir})
		c := newClient(t, srv)
		res := d1Query(t, c, db.UUID, "SELECT count(*) AS n, coalesce(max(n), 0) AS top FROM rows")
		top := int(res[0].Results[0]["top"].(float64))
		if top < acked || int(res[0].Results[0]["n"].(float64)) != top {
			t.Fatalf("round %d: %v rows (max %d) after SIGKILL, but %d inserts were acknowledged", round, res[0].Results[0]["n"], top, acked)
		}
		check := d1Query(t, c, db.UUID, "PRAGMA integrity_check")
		if check[0].Results[0]["integrity_check"] != "ok" {
			t.Fatalf("round %d: integrity_check = %v", round, check[0].Results)
		}
		d1Query(t, c, db.UUID, "DELETE FROM rows")
		srv.Close()
	}
}

// runD1ChildUntilKilled runs the inserting child for d and returns the last acknowledged n.
func runD1ChildUntilKilled(t *testing.T, dir, uuid string, d time.Duration) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestD1KillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), d1ChildEnv+"="+dir+"|"+uuid)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not start: %q", lines.Text())
	}
	var mu sync.Mutex
	acked := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for lines.Scan() {
			if n, err := strconv.Atoi(strings.TrimPrefix(lines.Text(), "ack ")); err == nil {
				mu.Lock()
				acked = n
				mu.Unlock()
			}
		}
	}()
	time.Sleep(d)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	_ = cmd.Wait()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if acked == 0 {
		t.Fatalf("the child acknowledged no insert in %s", d)
	}
	return acked
}
