// Package localpg runs a project-local PostgreSQL cluster from the server
// binaries installed on the machine, so that `make run` and `make test` need
// nothing configured.
//
// The cluster lives in a data directory (by default .bulkhead/postgres). It is
// created with initdb the first time, started on 127.0.0.1 with a short
// unix-socket directory, and shared between the processes that open it: the
// server, the CLI and test binaries. A reference count kept with file locks
// decides who stops it: the last process to close it. A process that started
// the cluster also takes it down when it dies (Pdeathsig), unless the cluster
// was opened Detached.
//
// PostgreSQL refuses to run as root, so as root the cluster runs as the
// unprivileged "postgres" user; when that user cannot reach the project
// folder, the data directory moves under /tmp.
package localpg

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lib/pq"
)

// User is the superuser role initdb creates, and Database the database
// Bulkhead uses in the local cluster.
const (
	User     = "bulkhead"
	Database = "bulkhead"
)

// ErrNoBinaries is returned by Open when no PostgreSQL server binaries are
// installed.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, postgres) not found: " +
	"install PostgreSQL (Debian/Ubuntu: apt-get install postgresql) or set DATABASE_URL to an existing database")

// Options tune Open.
type Options struct {
	// Detached clusters outlive the process that started them until the last
	// user closes them; tests use this because several test binaries share one
	// cluster. Otherwise the starting process's death stops the cluster.
	Detached bool
	// Fast turns off fsync and synchronous commit: for tests only.
	Fast bool
	// Log receives the progress lines ("initializing ...", "started ...").
	Log func(format string, args ...any)
	// Port to listen on; 0 picks a free one.
	Port int
}

// Cluster is an open handle on a running local cluster. Close it when done.
type Cluster struct {
	DataDir   string // the PostgreSQL data directory
	SocketDir string // the unix-socket directory
	Port      int
	password  string
	users     *os.File // holds a shared lock while this process uses the cluster
	lockPath  string
	pid       int
}

// Open attaches to the cluster under dir, initializing and starting it when
// needed. It returns ErrNoBinaries when PostgreSQL is not installed.
func Open(dir string, opts Options) (*Cluster, error) {
	if opts.Log == nil {
		opts.Log = func(string, ...any) {}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	run, err := runAs()
	if err != nil {
		return nil, err
	}
	c := &Cluster{DataDir: dataDir(dir, run), lockPath: filepath.Join(dir, "postgres.lock")}
	if c.DataDir != filepath.Join(dir, "postgres") {
		opts.Log("the postgres user cannot reach %s; keeping the cluster in %s", dir, c.DataDir)
	}
	c.SocketDir = filepath.Join(os.TempDir(), "bh-"+shortHash(c.DataDir))

	// The start lock serializes starting and stopping between processes.
	unlock, err := lockFile(c.lockPath, syscall.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer unlock()

	if pid, port, ok := running(c.DataDir); ok {
		c.pid, c.Port = pid, port
	} else if err := c.start(run, opts); err != nil {
		return nil, err
	}
	if c.password, err = readPassword(c.DataDir); err != nil {
		return nil, err
	}
	if err := c.CreateDatabase(Database); err != nil {
		return nil, err
	}
	if c.users, err = os.OpenFile(c.lockPath+".users", os.O_CREATE|os.O_RDWR, 0o644); err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(c.users.Fd()), syscall.LOCK_SH); err != nil {
		c.users.Close()
		return nil, fmt.Errorf("lock %s: %w", c.users.Name(), err)
	}
	return c, nil
}

// Exists reports whether dir holds a cluster that Open would attach to or
// start, rather than initialize: the CLI opens only existing clusters, so
// that a command run in the wrong folder does not create an empty one.
func Exists(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	run, err := runAs()
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(dataDir(dir, run), "PG_VERSION"))
	return err == nil
}

// dataDir is where the cluster of the absolute directory dir lives: in
// dir/postgres, or under /tmp when the user run cannot reach dir.
func dataDir(dir string, run *syscall.Credential) string {
	if run != nil && !reachable(dir, run) {
		return filepath.Join(os.TempDir(), "bulkhead-pg-"+shortHash(dir))
	}
	return filepath.Join(dir, "postgres")
}

// URL returns a connection URL for the given database of the cluster, over
// its unix socket.
func (c *Cluster) URL(database string) string {
	q := url.Values{}
	q.Set("host", c.SocketDir)
	q.Set("port", strconv.Itoa(c.Port))
	q.Set("sslmode", "disable")
	u := url.URL{Scheme: "postgres", User: url.UserPassword(User, c.password), Host: "localhost", Path: "/" + database, RawQuery: q.Encode()}
	return u.String()
}

// Close releases this process's use of the cluster and stops the cluster when
// no other process uses it.
func (c *Cluster) Close() error {
	unlock, err := lockFile(c.lockPath, syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	// Trade our shared lock for an exclusive one: it is granted at once only
	// when no other process holds the cluster.
	last := syscall.Flock(int(c.users.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
	c.users.Close()
	if !last {
		return nil
	}
	return stop(c.DataDir, c.pid)
}

// CreateDatabase creates the named database in the cluster unless it exists.
func (c *Cluster) CreateDatabase(name string) error {
	db, err := sql.Open("postgres", c.URL("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRow(`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("connect to the local cluster: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := db.Exec(`CREATE DATABASE ` + pq.QuoteIdentifier(name)); err != nil {
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code == "42P04" { // created meanwhile
			return nil
		}
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// DropDatabase drops the named database, ending its open connections.
func (c *Cluster) DropDatabase(name string) error {
	db, err := sql.Open("postgres", c.URL("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(`DROP DATABASE IF EXISTS ` + pq.QuoteIdentifier(name) + ` WITH (FORCE)`)
	return err
}

func (c *Cluster) start(run *syscall.Credential, opts Options) error {
	bin, err := binDir()
	if err != nil {
		return err
	}
	for _, d := range []string{c.DataDir, c.SocketDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
		if run != nil {
			if err := os.Chown(d, int(run.Uid), int(run.Gid)); err != nil {
				return fmt.Errorf("chown %s: %w", d, err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(c.DataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		opts.Log("initializing a PostgreSQL cluster in %s", c.DataDir)
		if err := c.initdb(bin, run); err != nil {
			return err
		}
	}
	port := opts.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return err
		}
	}
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(c.lockPath), "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"-D", c.DataDir, "-k", c.SocketDir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=200",
		"-c", "max_locks_per_transaction=256",
		"-c", "shared_buffers=" + strconv.FormatInt(sharedBuffers()>>20, 10) + "MB",
		"-c", "unix_socket_permissions=0770",
	}
	if opts.Fast {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own session: a Ctrl-C in the terminal reaches Bulkhead, which drains
	// its requests before it stops the cluster.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: run}
	if !opts.Detached {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGINT
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(60 * time.Second)
	for {
		if pid, p, ok := running(c.DataDir); ok && pid == cmd.Process.Pid {
			c.pid, c.Port = pid, p
			opts.Log("PostgreSQL started (pid %d, port %d)", pid, p)
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("postgres exited during start-up (%v): see %s", err, logf.Name())
		case <-deadline:
			_ = cmd.Process.Signal(syscall.SIGQUIT)
			return fmt.Errorf("postgres did not become ready within 60s: see %s", logf.Name())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sharedBuffers is the size of the cluster's shared buffers: a quarter of
// the memory this process may use (the machine's, or its cgroup's limit),
// which is what PostgreSQL's documentation suggests for a dedicated server,
// between PostgreSQL's default of 128 MB and maxSharedBuffers. With the
// default, 10,000 tenants' pages outgrow the buffers: every GET /Users/{id}
// read about 10 pages from the operating system (docs/scaling.md).
func sharedBuffers() int64 {
	const least = 128 << 20
	mem := int64(0)
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				mem = kb << 10
			}
		}
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if limit, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && limit < mem {
			mem = limit
		}
	}
	return min(max(mem/4, least), maxSharedBuffers)
}

// maxSharedBuffers bounds sharedBuffers: the cluster shares the machine
// with Bulkhead and whatever else runs there.
const maxSharedBuffers = 2 << 30

func (c *Cluster) initdb(bin string, run *syscall.Credential) error {
	pw := make([]byte, 24)
	if _, err := rand.Read(pw); err != nil {
		return err
	}
	password := hex.EncodeToString(pw)
	// initdb reads the password from a file that its user can open: one in
	// the private socket directory, removed right after.
	pwfile := filepath.Join(c.SocketDir, "initdb.pw")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if run != nil {
		if err := os.Chown(pwfile, int(run.Uid), int(run.Gid)); err != nil {
			return err
		}
	}
	cmd := exec.Command(filepath.Join(bin, "initdb"), "-D", c.DataDir, "-U", User,
		"--auth=scram-sha-256", "--pwfile="+pwfile, "-E", "UTF8",
		"--lc-collate=C", "--lc-ctype=C.UTF-8", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: run}
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(c.DataDir)
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// The password sits in the data directory, readable by the cluster's
	// owner only, so that a moved or recreated directory keeps its own.
	f := filepath.Join(c.DataDir, "bulkhead_password")
	if err := os.WriteFile(f, []byte(password), 0o600); err != nil {
		return err
	}
	if run != nil {
		return os.Chown(f, int(run.Uid), int(run.Gid))
	}
	return nil
}

func readPassword(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "bulkhead_password"))
	if err != nil {
		return "", fmt.Errorf("read the local cluster's password (remove %s to start afresh): %w", dataDir, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// running reports whether a postmaster serves dataDir and is ready, with its
// pid and port, read from postmaster.pid.
func running(dataDir string) (pid, port int, ok bool) {
	f, err := os.Open(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	// Lines: pid, data dir, start time, port, socket dir, listen address,
	// shared memory key, status.
	if len(lines) < 8 || lines[7] != "ready" {
		return 0, 0, false
	}
	pid, _ = strconv.Atoi(lines[0])
	port, _ = strconv.Atoi(lines[3])
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return 0, 0, false
	}
	return pid, port, true
}

// stop asks the postmaster for a fast shutdown and waits for it to exit.
func stop(dataDir string, pid int) error {
	if pid <= 0 {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
		return nil // already gone
	}
	for i := 0; i < 600; i++ {
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
		if _, err := os.Stat(filepath.Join(dataDir, "postmaster.pid")); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("postgres (pid %d) did not stop within 30s", pid)
}

// binDir finds the directory holding initdb and postgres.
func binDir() (string, error) {
	var dirs []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(found, func(i, j int) bool { return pgMajor(found[i]) > pgMajor(found[j]) })
	dirs = append(dirs, found...)
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// runAs returns the credential to run PostgreSQL with: nil when we are not
// root, the postgres user's when we are.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("running as root, and PostgreSQL refuses to run as root, but there is no 'postgres' user to run it as: " +
			"install PostgreSQL (apt-get install postgresql creates the user), run as another user, or set DATABASE_URL")
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// reachable reports whether the user run can enter every directory from / to
// dir, judged by permission bits.
func reachable(dir string, run *syscall.Credential) bool {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return false
		}
		st := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode().Perm()
		ok := mode&0o001 != 0 ||
			(st.Uid == run.Uid && mode&0o100 != 0) ||
			(st.Gid == run.Gid && mode&0o010 != 0)
		if !ok {
			return false
		}
		if d == "/" {
			return true
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lockFile(path string, how int) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:4])
}
