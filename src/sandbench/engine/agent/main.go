// sandbench-agent runs commands inside a sandbox for the engine on the host.
//
// Started in the sandbox by one `podman exec` (as root), it listens on a unix socket in
// a directory the host mounted into the sandbox. Each connection carries one request, a
// JSON line, and gets frames back: [kind u8][length u32 big-endian][payload]. An exec's
// output comes as stdout/stderr frames while it runs, then one exit frame with the exact
// exit code. This replaces a Podman exec (a runc exec and two conmon processes, about
// 60 ms) with a fork in the sandbox's own cgroup (about 1 ms).
//
// A timeout kills every process whose environment carries the exec's marker, as the
// engine's Podman path does: children, setsid'd or nohup'd, all inherit it.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	frameStdout = 1
	frameStderr = 2
	frameExit   = 3

	markerVar = "SANDBENCH_EXEC_ID"
	// After the exec's own process exits, output still in flight is read for this long at
	// most: a background process that inherited the pipes must not hold the exec open.
	drainAfterExit = 50 * time.Millisecond
)

type request struct {
	Op        string   `json:"op"`
	Argv      []string `json:"argv"`
	Env       []string `json:"env"`
	Cwd       string   `json:"cwd"`
	User      string   `json:"user"`
	TimeoutMs int64    `json:"timeout_ms"`
	Marker    string   `json:"marker"`
}

type exitFrame struct {
	Code     int  `json:"code"`
	TimedOut bool `json:"timed_out"`
	Pid      int  `json:"pid,omitempty"`
}

func main() {
	switch {
	case len(os.Args) == 3 && os.Args[1] == "serve":
		serve(os.Args[2])
	case len(os.Args) == 3 && os.Args[1] == "kill":
		killMarked(os.Args[2]) // as the exec's user: see killAs
	case len(os.Args) >= 4 && os.Args[1] == "boot" && os.Args[3] == "--":
		boot(os.Args[2], os.Args[4:])
	default:
		fmt.Fprintln(os.Stderr, "usage: sandbench-agent serve SOCKET | boot SOCKET -- KEEPALIVE...")
		os.Exit(2)
	}
}

// boot is the sandbox's command: it starts the server in the background, then becomes
// the keep-alive command (the image's sleep), so the sandbox outlives a killed agent and
// the engine can start it again. With no such command, it waits itself.
func boot(path string, keepAlive []string) {
	self, err := os.Executable()
	if err == nil {
		attr := &os.ProcAttr{
			Env:   os.Environ(),
			Files: []*os.File{nil, os.Stdout, os.Stderr},
			Sys:   &syscall.SysProcAttr{Setsid: true},
		}
		if process, err := os.StartProcess(self, []string{self, "serve", path}, attr); err == nil {
			_ = process.Release()
		}
	}
	if len(keepAlive) > 0 {
		if program, err := lookPath(keepAlive[0], os.Environ()); err == nil {
			_ = syscall.Exec(program, keepAlive, os.Environ())
		}
	}
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE, syscall.SIGTERM, syscall.SIGINT)
	for {
		time.Sleep(time.Hour)
	}
}

func serve(path string) {
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
	syscall.Umask(0o077) // the socket is root's alone: a sandbox user must not reach it
	tmp := path + ".new"
	_ = os.Remove(tmp)
	listener, err := net.Listen("unix", tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbench-agent:", err)
		os.Exit(1)
	}
	syscall.Umask(0o022) // commands get the usual umask
	// The socket appears at its path only once it accepts: the host waits for the path.
	if err := os.Rename(tmp, path); err != nil {
		fmt.Fprintln(os.Stderr, "sandbench-agent:", err)
		os.Exit(1)
	}
	for {
		conn, err := listener.Accept()
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go handle(conn)
	}
}

func handle(conn net.Conn) {
	defer conn.Close()
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return
	}
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		writeExit(conn, &sync.Mutex{}, exitFrame{Code: 2})
		return
	}
	mu := &sync.Mutex{}
	switch req.Op {
	case "ping":
		writeExit(conn, mu, exitFrame{Code: 0, Pid: os.Getpid()})
	case "kill":
		cred, _, err := resolveUser(req.User)
		if err != nil {
			cred = nil
		}
		killAs(req.Marker, cred)
		writeExit(conn, mu, exitFrame{Code: 0})
	case "exec":
		runExec(conn, mu, &req)
	default:
		writeExit(conn, mu, exitFrame{Code: 2})
	}
}

func writeFrame(w io.Writer, mu *sync.Mutex, kind byte, payload []byte) {
	header := make([]byte, 5, 5+len(payload))
	header[0] = kind
	binary.BigEndian.PutUint32(header[1:], uint32(len(payload)))
	mu.Lock()
	defer mu.Unlock()
	_, _ = w.Write(append(header, payload...))
}

func writeExit(w io.Writer, mu *sync.Mutex, frame exitFrame) {
	payload, _ := json.Marshal(frame)
	writeFrame(w, mu, frameExit, payload)
}

// fail reports a command that could not start as runc does: a message on stderr and
// 127 (not found, no such directory) or 126 (not executable).
func fail(w io.Writer, mu *sync.Mutex, code int, message string) {
	writeFrame(w, mu, frameStderr, []byte("sandbench-agent: "+message+"\n"))
	writeExit(w, mu, exitFrame{Code: code})
}

func runExec(conn net.Conn, mu *sync.Mutex, req *request) {
	if len(req.Argv) == 0 {
		fail(conn, mu, 127, "no command")
		return
	}
	cred, home, err := resolveUser(req.User)
	if err != nil {
		fail(conn, mu, 126, err.Error())
		return
	}
	env := environment(req, home)
	program, err := lookPath(req.Argv[0], env)
	if err != nil {
		code := 127
		if errors.Is(err, os.ErrPermission) {
			code = 126
		}
		fail(conn, mu, code, err.Error())
		return
	}
	if req.Cwd != "" {
		if info, err := os.Stat(req.Cwd); err != nil || !info.IsDir() {
			fail(conn, mu, 127, fmt.Sprintf("chdir to cwd (%q) failed: no such directory", req.Cwd))
			return
		}
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		fail(conn, mu, 126, err.Error())
		return
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		fail(conn, mu, 126, err.Error())
		return
	}
	cmd := &exec.Cmd{
		Path:        program,
		Args:        req.Argv,
		Env:         env,
		Dir:         req.Cwd,
		Stdout:      outW,
		Stderr:      errW,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true, Credential: cred},
	}
	startErr := cmd.Start()
	outW.Close()
	errW.Close()
	if startErr != nil {
		outR.Close()
		errR.Close()
		code := 126
		if errors.Is(startErr, os.ErrNotExist) {
			code = 127
		}
		fail(conn, mu, code, startErr.Error())
		return
	}
	var pumps sync.WaitGroup
	pump := func(r *os.File, kind byte) {
		defer pumps.Done()
		buf := make([]byte, 64*1024)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				writeFrame(conn, mu, kind, buf[:n])
			}
			if err != nil {
				return
			}
		}
	}
	pumps.Add(2)
	go pump(outR, frameStdout)
	go pump(errR, frameStderr)

	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	timedOut := false
	if req.TimeoutMs > 0 {
		timer := time.NewTimer(time.Duration(req.TimeoutMs) * time.Millisecond)
		select {
		case <-waited:
			timer.Stop()
		case <-timer.C:
			timedOut = true
			killAs(req.Marker, cred)
			<-waited
		}
	} else {
		<-waited
	}
	deadline := time.Now().Add(drainAfterExit)
	_ = outR.SetReadDeadline(deadline)
	_ = errR.SetReadDeadline(deadline)
	pumps.Wait()
	outR.Close()
	errR.Close()
	code := -1
	if status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
		if status.Signaled() {
			code = 128 + int(status.Signal())
		} else {
			code = status.ExitStatus()
		}
	}
	if timedOut {
		killAs(req.Marker, cred) // what it started after the first sweep
	}
	writeExit(conn, mu, exitFrame{Code: code, TimedOut: timedOut, Pid: cmd.Process.Pid})
}

// environment: the sandbox's (the agent's own, minus what is the agent's), the request's
// over it, HOME from the user's passwd entry as Podman does, and the exec's marker.
func environment(req *request, home string) []string {
	values := map[string]string{}
	order := []string{}
	set := func(item string) {
		key, value, _ := strings.Cut(item, "=")
		if _, seen := values[key]; !seen {
			order = append(order, key)
		}
		values[key] = value
	}
	for _, item := range os.Environ() {
		if strings.HasPrefix(item, markerVar+"=") || strings.HasPrefix(item, "PWD=") {
			continue
		}
		set(item)
	}
	if req.User != "" {
		set("HOME=" + home)
	}
	for _, item := range req.Env {
		set(item)
	}
	if req.Marker != "" {
		set(markerVar + "=" + req.Marker)
	}
	env := make([]string, 0, len(order))
	for _, key := range order {
		env = append(env, key+"="+values[key])
	}
	return env
}

func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return checkExecutable(name)
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, item := range env {
		if strings.HasPrefix(item, "PATH=") {
			path = item[len("PATH="):]
		}
	}
	denied := false
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		found, err := checkExecutable(filepath.Join(dir, name))
		if err == nil {
			return found, nil
		}
		denied = denied || errors.Is(err, os.ErrPermission)
	}
	if denied {
		return "", fmt.Errorf("exec: %q: %w", name, os.ErrPermission)
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", name)
}

func checkExecutable(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("exec: %q: %w", path, os.ErrNotExist)
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return "", fmt.Errorf("exec: %q: %w", path, os.ErrPermission)
	}
	return path, nil
}

// resolveUser reads USER, UID, USER:GROUP or UID:GID against the sandbox's /etc/passwd and
// /etc/group, as runc does: an unknown numeric uid runs with gid 0 and HOME /.
func resolveUser(spec string) (*syscall.Credential, string, error) {
	if spec == "" {
		return nil, "", nil
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	uid, gid, name, home := -1, 0, "", "/"
	for _, fields := range readColon("/etc/passwd", 7) {
		if fields[0] == userPart || fields[2] == userPart {
			uid, _ = strconv.Atoi(fields[2])
			gid, _ = strconv.Atoi(fields[3])
			name, home = fields[0], fields[5]
			break
		}
	}
	if uid < 0 {
		number, err := strconv.Atoi(userPart)
		if err != nil {
			return nil, "", fmt.Errorf("unable to find user %s: no matching entries in passwd file", userPart)
		}
		uid = number
	}
	groups := []uint32{}
	for _, fields := range readColon("/etc/group", 4) {
		if hasGroup && (fields[0] == groupPart || fields[2] == groupPart) {
			gid, _ = strconv.Atoi(fields[2])
		}
		if name == "" {
			continue
		}
		for _, member := range strings.Split(fields[3], ",") {
			if member == name {
				if number, err := strconv.Atoi(fields[2]); err == nil {
					groups = append(groups, uint32(number))
				}
			}
		}
	}
	if hasGroup {
		if number, err := strconv.Atoi(groupPart); err == nil {
			gid = number
		}
	}
	groups = append([]uint32{uint32(gid)}, groups...)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}, home, nil
}

func readColon(path string, fields int) [][]string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var rows [][]string
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.Split(line, ":")
		if len(parts) >= fields && !strings.HasPrefix(line, "#") {
			rows = append(rows, parts)
		}
	}
	return rows
}

// killAs kills the exec's processes as root and, for a command run as another user, as
// that user too: the sandbox's root has no CAP_SYS_PTRACE, so it cannot read the
// environment of another user's process, and only that user (or root) can.
func killAs(marker string, cred *syscall.Credential) {
	killMarked(marker)
	if cred == nil || cred.Uid == 0 {
		return
	}
	self, err := os.Executable()
	if err != nil {
		return
	}
	helper := &exec.Cmd{
		Path:        self,
		Args:        []string{self, "kill", marker},
		SysProcAttr: &syscall.SysProcAttr{Credential: cred},
	}
	_ = helper.Run()
	killMarked(marker) // what forked meanwhile, as root's sweep can see it
}

// killMarked SIGKILLs every process whose environment carries the marker, sweeping again
// while it finds any: a process may fork between reading /proc and the kill.
func killMarked(marker string) {
	if marker == "" {
		return
	}
	needle := []byte(markerVar + "=" + marker + "\x00")
	self := os.Getpid()
	for round := 0; round < 50; round++ {
		found := 0
		entries, _ := os.ReadDir("/proc")
		for _, entry := range entries {
			pid, err := strconv.Atoi(entry.Name())
			if err != nil || pid == self {
				continue
			}
			environ, err := os.ReadFile("/proc/" + entry.Name() + "/environ")
			if err != nil || !containsEntry(environ, needle) {
				continue
			}
			found++
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if found == 0 {
			return
		}
		time.Sleep(time.Duration(round+1) * time.Millisecond)
	}
}

func containsEntry(environ, needle []byte) bool {
	for len(environ) > 0 {
		if len(environ) >= len(needle) && string(environ[:len(needle)]) == string(needle) {
			return true
		}
		next := indexByte(environ, 0)
		if next < 0 {
			return false
		}
		environ = environ[next+1:]
	}
	return false
}

func indexByte(data []byte, b byte) int {
	for i, c := range data {
		if c == b {
			return i
		}
	}
	return -1
}
