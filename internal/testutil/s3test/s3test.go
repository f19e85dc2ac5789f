// Package s3test starts a real S3-compatible server for tests: SeaweedFS
// (`weed server -s3`) on 127.0.0.1, once per test binary, with one
// identity and one bucket. The binary is $YOUJU_TEST_WEED, else `weed` on
// PATH (.ci/run builds one exact version into its cache). Without it a
// test skips, and fails in CI (CI set).
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/youju/youju/internal/blob/s3blobs"
	"github.com/youju/youju/internal/testutil"
)

// Credentials of the test identity, and the bucket created at start.
const (
	AccessKey = "youjutest"
	Secret    = "youjutestsecret"
	Bucket    = "youju-test"
)

var (
	once     sync.Once
	endpoint string
	startErr error
	cmd      *exec.Cmd
	dataDir  string
)

// Config returns the s3blobs configuration of the test server (started on
// first use), with a prefix of its own so that stores of different tests
// never share an object, or skips t when there is no SeaweedFS binary.
func Config(t testing.TB) s3blobs.Config {
	t.Helper()
	once.Do(start)
	if startErr != nil {
		testutil.Missing(t, "SeaweedFS S3 server: "+startErr.Error())
	}
	var b [8]byte
	rand.Read(b[:])
	return s3blobs.Config{Endpoint: endpoint, Bucket: Bucket, AccessKey: AccessKey, Secret: Secret,
		PathStyle: true, Prefix: hex.EncodeToString(b[:]) + "/"}
}

// Stop ends the server (TestMain calls it after the tests; a test binary
// killed on the way leaves it to die of Pdeathsig).
func Stop() {
	if cmd != nil && cmd.Process != nil {
		cmd.Process.Kill()
		cmd.Wait()
	}
	if dataDir != "" {
		os.RemoveAll(dataDir)
	}
}

func binary() (string, error) {
	if p := os.Getenv("YOUJU_TEST_WEED"); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("weed")
	if err != nil {
		return "", fmt.Errorf("no weed binary (set YOUJU_TEST_WEED; .ci/run builds it)")
	}
	return p, nil
}

// freePorts reserves n distinct loopback ports (closed again before the
// server binds them: a small race, retried by the caller's start).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func start() {
	bin, err := binary()
	if err != nil {
		startErr = err
		return
	}
	for attempt := 0; attempt < 3; attempt++ {
		if startErr = startOnce(bin); startErr == nil {
			return
		}
		Stop()
	}
}

func startOnce(bin string) error {
	dir, err := os.MkdirTemp("", "youju-s3test-")
	if err != nil {
		return err
	}
	dataDir = dir
	conf := fmt.Sprintf(`{"identities":[{"name":"youju","credentials":[{"accessKey":%q,"secretKey":%q}],
		"actions":["Admin","Read","Write","List","Tagging"]}]}`, AccessKey, Secret)
	confPath := filepath.Join(dir, "s3.json")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return err
	}
	p, err := freePorts(8)
	if err != nil {
		return err
	}
	port := func(i int) string { return strconv.Itoa(p[i]) }
	cmd = exec.Command(bin, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir="+dir,
		"-master.port="+port(0), "-master.port.grpc="+port(1), "-master.telemetry=false",
		"-master.volumeSizeLimitMB=64", "-volume.max=16",
		"-volume.port="+port(2), "-volume.port.grpc="+port(3),
		"-filer", "-filer.port="+port(4), "-filer.port.grpc="+port(5),
		"-s3", "-s3.port="+port(6), "-s3.port.grpc="+port(7), "-s3.port.iceberg=0", "-s3.port.lance=0",
		"-s3.config="+confPath)
	log, err := os.Create(filepath.Join(dir, "weed.log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	endpoint = "http://127.0.0.1:" + port(6)
	// The filer and the S3 gateway come up after the master and the
	// volume server; a loaded machine takes seconds.
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := s3blobs.Open(ctx, s3blobs.Config{Endpoint: endpoint, Bucket: Bucket, AccessKey: AccessKey,
			Secret: Secret, PathStyle: true, CreateBucket: true})
		cancel()
		if err == nil {
			return nil
		}
		if cmd.ProcessState != nil || time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(dir, "weed.log"))
			if len(out) > 2000 {
				out = out[len(out)-2000:]
			}
			return fmt.Errorf("not ready at %s: %v\n%s", endpoint, err, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
