package storetest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// startPgBouncer starts PgBouncer in transaction pooling mode on a free
// loopback port in front of the server at adminURL, and returns the URL of
// the same database through it and a function that stops it. Every
// database of the server is reachable through it ("*"), so tests can create
// theirs. As root, PgBouncer runs as the postgres user, since it refuses to
// run as root.
func startPgBouncer(adminURL string) (string, func(), error) {
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/pgbouncer"); serr != nil {
			return "", nil, fmt.Errorf("pgbouncer not found (Debian: apt-get install pgbouncer)")
		}
		bin = "/usr/sbin/pgbouncer"
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", nil, err
	}
	q := u.Query()
	host, port := q.Get("host"), q.Get("port")
	if host == "" {
		host, port = u.Hostname(), u.Port()
	}
	if port == "" {
		port = "5432"
	}
	pw, _ := u.User.Password()
	dir, err := os.MkdirTemp("", "bulkhead-pgbouncer-")
	if err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	listen := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%s user=%s password=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = plain
auth_file = %s
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 40
max_db_connections = 40
ignore_startup_parameters = extra_float_digits
logfile = %s
pidfile = %s
`, host, port, u.User.Username(), pw, listen, filepath.Join(dir, "users.txt"), filepath.Join(dir, "pgbouncer.log"), filepath.Join(dir, "pgbouncer.pid"))
	files := map[string]string{
		"pgbouncer.ini": ini,
		"users.txt":     fmt.Sprintf("%q %q\n", u.User.Username(), pw),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return "", nil, err
		}
	}
	args := []string{filepath.Join(dir, "pgbouncer.ini")}
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		if err != nil {
			return "", nil, fmt.Errorf("pgbouncer refuses to run as root and there is no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		for _, f := range []string{dir, filepath.Join(dir, "pgbouncer.ini"), filepath.Join(dir, "users.txt")} {
			if err := os.Chown(f, uid, gid); err != nil {
				return "", nil, err
			}
		}
		args = append([]string{"-u", "postgres"}, args...)
	}
	// PgBouncer 1.18 can die on a cancel request (lib/pq sends one when a
	// query's context ends): "FATAL … disconnect_client(): bad client
	// state: 0" in its log. A supervisor restarts it on the same port, so
	// one such crash does not fail every later test of the binary.
	start := func() (*exec.Cmd, error) {
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return cmd, cmd.Start()
	}
	cmd, err := start()
	if err != nil {
		return "", nil, fmt.Errorf("start pgbouncer: %w", err)
	}
	var mu sync.Mutex
	stopping := false
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			_ = cmd.Wait()
			mu.Lock()
			if stopping {
				mu.Unlock()
				return
			}
			time.Sleep(50 * time.Millisecond)
			next, err := start()
			if err != nil {
				mu.Unlock()
				fmt.Fprintf(os.Stderr, "storetest: restart pgbouncer: %v\n", err)
				return
			}
			fmt.Fprintln(os.Stderr, "storetest: pgbouncer exited; restarted it")
			cmd = next
			mu.Unlock()
		}
	}()
	stop := func() {
		mu.Lock()
		stopping = true
		_ = cmd.Process.Signal(syscall.SIGINT)
		mu.Unlock()
		<-exited
		if os.Getenv("BULKHEAD_TEST_PGBOUNCER_KEEP") == "" {
			os.RemoveAll(dir)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(listen)); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			stop()
			return "", nil, fmt.Errorf("pgbouncer did not start listening: %s", log)
		}
	}
	through := url.URL{Scheme: "postgres", User: u.User, Host: "127.0.0.1:" + strconv.Itoa(listen), Path: u.Path, RawQuery: "sslmode=disable"}
	return through.String(), stop, nil
}
