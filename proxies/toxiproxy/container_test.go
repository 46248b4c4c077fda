package toxiproxy

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcnet "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

// These tests really run Docker containers. Without a Docker daemon they are skipped with a
// "not tested:" line naming what to install; RTCONFORM_REQUIRE_DOCKER=1 (CI) makes that a failure.

// noContainersLeft registers (first, so it runs last) a check that no
// container started by this process is left when the test ends.
func noContainersLeft(t *testing.T) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cli, err := testcontainers.NewDockerClientWithOpts(ctx)
		if err != nil {
			return // no Docker: nothing can be left
		}
		defer cli.Close()
		res, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true,
			Filters: make(client.Filters).Add("label", labelPID+"="+strconv.Itoa(os.Getpid()))})
		if err != nil {
			t.Errorf("list containers: %v", err)
			return
		}
		for _, c := range res.Items {
			t.Errorf("container %.12s (%s, %s) left behind", c.ID, c.Image, c.State)
		}
	})
}

func TestContainerBackend(t *testing.T) {
	noContainersLeft(t)
	up := newUpstream(t)
	b := openOrRequireDocker(t, Config{})
	if b.Name() != Container {
		t.Errorf("Name() = %q", b.Name())
	}
	t.Logf("image %s, API %s", b.(*containerBackend).image, b.API())
	runBehaviours(t, b, upstreamAddr(up))
}

// TestContainerNetwork puts the Toxiproxy container in a Docker network with
// a target container (another Toxiproxy, whose API is a handy HTTP server) and
// proxies to the target by name; listen ports come from the published range.
func TestContainerNetwork(t *testing.T) {
	noContainersLeft(t)
	ctx := testCtx(t, 5*time.Minute)
	// Fail or skip before creating the network when there is no Docker.
	probe := openOrRequireDocker(t, Config{})
	image := probe.(*containerBackend).image

	nw, err := tcnet.New(ctx)
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	t.Cleanup(func() {
		if err := nw.Remove(context.Background()); err != nil {
			t.Errorf("remove network %s: %v", nw.Name, err)
		}
	})
	host, _ := os.Hostname()
	target, err := testcontainers.Run(ctx, image,
		testcontainers.WithLogger(tcLogger(t.Logf)),
		tcnet.WithNetwork([]string{"target"}, nw),
		testcontainers.WithLabels(map[string]string{LabelOwner: "1", labelPID: strconv.Itoa(os.Getpid()), labelHost: host}),
		testcontainers.WithWaitStrategy(wait.ForLog("Starting Toxiproxy HTTP server").WithStartupTimeout(30*time.Second)),
	)
	testcontainers.CleanupContainer(t, target)
	if err != nil {
		t.Fatalf("start target: %v", err)
	}

	b := openOrRequireDocker(t, Config{Network: nw.Name, Image: image, Ports: "8666-8667"})
	inspect, err := b.(*containerBackend).ctr.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for port, bindings := range inspect.NetworkSettings.Ports {
		for _, pb := range bindings {
			if pb.HostIP.String() != "127.0.0.1" {
				t.Errorf("port %s published on %s; want 127.0.0.1 only", port, pb.HostIP)
			}
		}
	}
	if n := len(inspect.NetworkSettings.Ports); n != 3 {
		t.Errorf("%d ports published; want 3 (API + 2 proxy ports)", n)
	}
	p, err := b.NewProxy(ctx, "to-target", "target:8474")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Listen(), "127.0.0.1:") {
		t.Errorf("Listen() = %q", p.Listen())
	}
	// Through the proxy we reach the target's API, which has no proxies (the
	// backend's own Toxiproxy has one).
	get := func(path string) (string, time.Duration) {
		start := time.Now()
		r := readUntil(request(t, p.Listen(), path), 1<<20, 10*time.Second)
		if r.err != io.EOF || !strings.HasPrefix(string(r.data), "HTTP/1.1 200") {
			t.Fatalf("GET %s via %s: %q, %v", path, p.Listen(), r.data, r.err)
		}
		return string(body(r.data)), r.end.Sub(start)
	}
	if got, _ := get("/proxies"); strings.TrimSpace(got) != "{}" {
		t.Errorf("target's /proxies = %q; want {} (did the proxy reach the target container?)", got)
	}

	a, err := Apply(ctx, p, Fault{Name: "lat", Toxic: "latency", Stream: Downstream, Latency: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, d := get("/version"); d < 200*time.Millisecond {
		t.Errorf("with 200 ms latency the request took %v", d)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// The range has two ports: a second proxy fits, a third does not until one is deleted.
	p2, err := b.NewProxy(ctx, "second", "target:8474")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.NewProxy(ctx, "third", "target:8474"); err == nil {
		t.Error("a third proxy got a port from a two-port range")
	}
	if err := p2.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.NewProxy(ctx, "third", "target:8474"); err != nil {
		t.Errorf("after a Delete: %v", err)
	}
}

// TestContainerLeftovers: Open removes a labelled container whose process is
// gone (an interrupted run), and nothing else.
func TestContainerLeftovers(t *testing.T) {
	noContainersLeft(t)
	ctx := testCtx(t, 5*time.Minute)
	first := openOrRequireDocker(t, Config{})
	image := first.(*containerBackend).image

	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	create := func(pid int) testcontainers.Container {
		ctr, err := testcontainers.Run(ctx, image,
			testcontainers.WithLogger(tcLogger(t.Logf)),
			testcontainers.WithNoStart(),
			testcontainers.WithLabels(map[string]string{LabelOwner: "1", labelPID: strconv.Itoa(pid), labelHost: host}),
		)
		testcontainers.CleanupContainer(t, ctr)
		if err != nil {
			t.Fatal(err)
		}
		return ctr
	}
	leftover := create(dead.Process.Pid)
	alive := create(os.Getpid()) // ours: must survive

	second := openOrRequireDocker(t, Config{})
	_ = second

	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.ContainerInspect(ctx, leftover.GetContainerID(), client.ContainerInspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Errorf("leftover of gone process %d still there (inspect: %v)", dead.Process.Pid, err)
	}
	if _, err := cli.ContainerInspect(ctx, alive.GetContainerID(), client.ContainerInspectOptions{}); err != nil {
		t.Errorf("container of a live process was removed: %v", err)
	}
}
