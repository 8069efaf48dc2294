package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/bulkhead-dev/bulkhead/app/store/localpg"
)

// dataDirName is the project-local data directory, found the way git finds
// .git: in the working directory or a folder above it.
const dataDirName = ".bulkhead"

// dataDir returns the local data directory to open when DATABASE_URL is not
// set: --data (BULKHEAD_DATA) when given, otherwise the nearest .bulkhead
// holding a cluster at or above the working directory, otherwise the one of
// a running `bulkhead serve`. Only serve and migrate (c.mayCreate) fall back
// to a new .bulkhead in the working directory; every other command refuses,
// so that a command run in the wrong folder never opens an empty database
// and reports that a tenant does not exist.
func (c *cli) dataDir() (string, error) {
	if c.DataDir != "" {
		if c.mayCreate || localpg.Exists(c.DataDir) {
			return c.DataDir, nil
		}
		return "", fmt.Errorf("no Bulkhead database in %s: give the data directory of `bulkhead serve` (--data, BULKHEAD_DATA), or set DATABASE_URL to its database", c.DataDir)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the data directory: %w", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if dir := filepath.Join(d, dataDirName); localpg.Exists(dir) {
			return dir, nil
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	if !c.serving { // a second server would fight the first for its cluster
		dirs := runningServers()
		switch {
		case len(dirs) == 1:
			return dirs[0], nil
		case len(dirs) > 1:
			return "", fmt.Errorf("no %s in %s or a folder above it, and several servers run: pass --data with one of %s, or set DATABASE_URL", dataDirName, wd, strings.Join(dirs, ", "))
		}
	}
	if c.mayCreate {
		return filepath.Join(wd, dataDirName), nil
	}
	return "", fmt.Errorf("no Bulkhead database found: DATABASE_URL is not set, no %s data directory is in %s or a folder above it, "+
		"and no `bulkhead serve` runs with a local database; set DATABASE_URL to the server's database, "+
		"pass --data DIR (env BULKHEAD_DATA) with its data directory, or run the command inside the project folder", dataDirName, wd)
}

// serversDir holds one file per running `bulkhead serve` that uses a local
// cluster, named by its pid and holding its data directory, so that the CLI
// finds that server's database from any folder. It is per user: in the
// user's cache directory.
func serversDir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "bulkhead", "servers"), nil
}

// registerServer records that this process serves the cluster in dir, until
// the returned function is called. Failing to record it only costs the CLI
// a way to find the server, so it is not an error.
func registerServer(dir string) (unregister func()) {
	sd, err := serversDir()
	if err != nil {
		return func() {}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return func() {}
	}
	f := filepath.Join(sd, strconv.Itoa(os.Getpid()))
	if os.MkdirAll(sd, 0o700) != nil || os.WriteFile(f, []byte(abs+"\n"), 0o600) != nil {
		return func() {}
	}
	return func() { os.Remove(f) }
}

// runningServers returns the data directories of the running servers that
// registered one, removing the records of servers that are gone.
func runningServers() []string {
	sd, err := serversDir()
	if err != nil {
		return nil
	}
	entries, err := os.ReadDir(sd)
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var dirs []string
	for _, e := range entries {
		f := filepath.Join(sd, e.Name())
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
			os.Remove(f) // killed without cleaning up
			continue
		}
		b, err := os.ReadFile(f)
		dir := strings.TrimSpace(string(b))
		if err != nil || seen[dir] || !localpg.Exists(dir) {
			continue
		}
		seen[dir] = true
		dirs = append(dirs, dir)
	}
	return dirs
}
