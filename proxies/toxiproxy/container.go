package toxiproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	dnet "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tctoxi "github.com/testcontainers/testcontainers-go/modules/toxiproxy"
	tcnet "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/rtconform/rtconform/internal/freeport"
)

// ErrDockerUnavailable is returned (wrapped) by Open for the container backend
// when no Docker daemon answers.
var ErrDockerUnavailable = errors.New("container backend needs a Docker daemon: apt-get install docker.io and start it (or point DOCKER_HOST at one)")

// Labels on every container the container backend starts. Open removes
// labelled containers left by an earlier process on this host that is gone.
const (
	LabelOwner = "rtconform.toxiproxy"      // always "1"
	labelPID   = "rtconform.toxiproxy.pid"  // the process that started it
	labelHost  = "rtconform.toxiproxy.host" // that process's hostname
)

// defaultNetworkPorts are the container ports published, one per live proxy,
// when the container joins Config.Network (8666 is where testcontainers'
// toxiproxy module starts its range too).
const defaultNetworkPorts = "8666-8681"

type containerBackend struct {
	*apiBackend
	ctr   testcontainers.Container
	image string
	port  *freeport.Port // the API's port on the host network (nil in a network)
}

func openContainer(ctx context.Context, cfg Config) (*containerBackend, error) {
	// The Ryuk reaper image cannot be pulled here: containers are removed
	// explicitly by Close, and leftovers by the next Open.
	if _, set := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED"); !set {
		_ = os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}

	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, fmt.Errorf("toxiproxy: %w: %v", ErrDockerUnavailable, err)
	}
	defer cli.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("toxiproxy: %w: %v", ErrDockerUnavailable, err)
	}
	removeLeftovers(ctx, cli, logf)

	img, err := resolveImage(ctx, cli, cfg.Image, logf)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	labels := map[string]string{LabelOwner: "1", labelPID: strconv.Itoa(os.Getpid()), labelHost: host}
	if cfg.Network == "" {
		return startHostNetwork(ctx, img, labels, logf)
	}
	return startInNetwork(ctx, cfg, img, labels, logf)
}

// startHostNetwork runs the container in the host's network namespace: its
// API and proxies listen on the host's 127.0.0.1 and upstream 127.0.0.1:N
// reaches a target on the host's loopback. The API port is picked free on the
// host just before the start; a start that loses that race is retried.
func startHostNetwork(ctx context.Context, img string, labels map[string]string, logf func(string, ...any)) (*containerBackend, error) {
	var errs []error
	for attempt := 0; attempt < 3; attempt++ {
		// Reserved, not just free a moment ago: another run's Toxiproxy taking the port
		// meanwhile would answer this one's API (see internal/freeport).
		port, err := freeport.Reserve()
		if err != nil {
			return nil, fmt.Errorf("toxiproxy: container: %w", err)
		}
		p := port.String()
		logf("toxiproxy: starting %s on the host network, API 127.0.0.1:%s", img, p)
		ctr, err := testcontainers.Run(ctx, img,
			testcontainers.WithLogger(tcLogger(logf)),
			testcontainers.WithCmd("-host=127.0.0.1", "-port="+p),
			testcontainers.WithLabels(labels),
			testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.NetworkMode = "host" }),
			testcontainers.WithWaitStrategy(wait.ForLog(startedLine).WithStartupTimeout(30*time.Second)),
		)
		if err == nil {
			err = waitAPI(ctx, ctr, "http://127.0.0.1:"+p)
		}
		if err == nil {
			b := &containerBackend{ctr: ctr, image: img, port: port}
			b.apiBackend = newAPIBackend(Container, "http://127.0.0.1:"+p, &addrPlan{bindHost: "127.0.0.1", dialHost: "127.0.0.1"})
			return b, nil
		}
		errs = append(errs, err)
		terminate(ctr)
		port.Release()
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("toxiproxy: container: start %s: %w", img, errors.Join(errs...))
}

// startInNetwork runs the container in cfg.Network through testcontainers'
// toxiproxy module. Ports cannot be published after the start, so a range of
// container ports (Config.Ports) is published up front, each to an ephemeral
// port on the host's 127.0.0.1; NewProxy hands them out one per live proxy
// (listen 0.0.0.0:P in the container, dialled at 127.0.0.1:<published P>).
func startInNetwork(ctx context.Context, cfg Config, img string, labels map[string]string, logf func(string, ...any)) (*containerBackend, error) {
	spec := cfg.Ports
	if spec == "" {
		spec = defaultNetworkPorts
	}
	ports, err := parsePorts(spec)
	if err != nil {
		return nil, err
	}
	exposed := make([]string, 0, len(ports))
	for _, p := range ports {
		if p == 8474 {
			return nil, fmt.Errorf("toxiproxy: Ports %q includes the API port 8474", spec)
		}
		exposed = append(exposed, fmt.Sprintf("%d/tcp", p))
	}
	loopback := netip.MustParseAddr("127.0.0.1")
	logf("toxiproxy: starting %s in network %s, publishing %s", img, cfg.Network, spec)
	ctr, err := tctoxi.Run(ctx, img,
		testcontainers.WithLogger(tcLogger(logf)),
		testcontainers.WithExposedPorts(exposed...),
		tcnet.WithNetworkName(nil, cfg.Network),
		testcontainers.WithLabels(labels),
		// Replaces the module's wait, which dials testcontainers' idea of the
		// daemon host (a bridge gateway when /.dockerenv exists), not loopback.
		testcontainers.WithWaitStrategy(wait.ForLog(startedLine).WithStartupTimeout(30*time.Second)),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			// Publish on loopback only, never on every interface.
			hc.PortBindings = dnet.PortMap{}
			for _, s := range append([]string{tctoxi.ControlPort}, exposed...) {
				hc.PortBindings[dnet.MustParsePort(s)] = []dnet.PortBinding{{HostIP: loopback}}
			}
		}),
	)
	if err != nil {
		if ctr != nil {
			terminate(ctr)
		}
		return nil, fmt.Errorf("toxiproxy: container: start %s in network %s: %w", img, cfg.Network, err)
	}
	fail := func(err error) (*containerBackend, error) {
		terminate(ctr)
		return nil, fmt.Errorf("toxiproxy: container: %w", err)
	}
	apiPort, err := ctr.MappedPort(ctx, tctoxi.ControlPort)
	if err != nil {
		return fail(err)
	}
	mapped := make(map[int]int, len(ports))
	for _, p := range ports {
		hp, err := ctr.MappedPort(ctx, fmt.Sprintf("%d/tcp", p))
		if err != nil {
			return fail(err)
		}
		mapped[p] = int(hp.Num())
	}
	api := fmt.Sprintf("http://127.0.0.1:%d", apiPort.Num())
	if err := waitAPI(ctx, ctr, api); err != nil {
		return fail(err)
	}
	b := &containerBackend{ctr: ctr, image: img}
	b.apiBackend = newAPIBackend(Container, api,
		&addrPlan{bindHost: "0.0.0.0", dialHost: "127.0.0.1", pool: ports, mapped: mapped, inUse: map[int]bool{}})
	return b, nil
}

// Close removes the container, which ends every proxy in it.
func (b *containerBackend) Close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	for p := range b.snapshot() {
		p.mu.Lock()
		p.deleted = true
		p.mu.Unlock()
		b.forget(p)
	}
	// Removal must happen even when ctx is already done.
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := testcontainers.TerminateContainer(b.ctr, testcontainers.StopContext(tctx), testcontainers.StopTimeout(2*time.Second)); err != nil {
		return fmt.Errorf("toxiproxy: container: remove: %w", err)
	}
	b.port.Release()
	return nil
}

// startedLine is what the Toxiproxy server logs just before it listens.
const startedLine = "Starting Toxiproxy HTTP server"

// waitAPI polls the API at the loopback URL the suite will use until it
// answers, the container stops running, or 30 s pass. testcontainers' own HTTP
// wait is not used: it dials testcontainers' idea of the daemon's host, which
// is a bridge gateway, not loopback, when the caller looks containerised.
func waitAPI(ctx context.Context, ctr testcontainers.Container, api string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/version", nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /version: %s", resp.Status)
		}
		last = err
		if st, err := ctr.State(ctx); err == nil && !st.Running {
			return fmt.Errorf("toxiproxy container exited (%s, code %d) before its API %s answered: %v", st.Status, st.ExitCode, api, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("toxiproxy API %s did not answer: %v", api, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func terminate(ctr testcontainers.Container) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = testcontainers.TerminateContainer(ctr, testcontainers.StopContext(ctx), testcontainers.StopTimeout(time.Second))
}

// removeLeftovers removes containers labelled by a process of this host that
// no longer runs (an interrupted earlier run). Failures are only logged.
func removeLeftovers(ctx context.Context, cli client.APIClient, logf func(string, ...any)) {
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", LabelOwner+"=1")})
	if err != nil {
		logf("toxiproxy: list leftover containers: %v", err)
		return
	}
	host, _ := os.Hostname()
	for _, c := range res.Items {
		pid, err := strconv.Atoi(c.Labels[labelPID])
		if c.Labels[labelHost] != host || err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		logf("toxiproxy: removing leftover container %.12s of gone process %d", c.ID, pid)
		if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			logf("toxiproxy: remove leftover container %.12s: %v", c.ID, err)
		}
	}
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

type logfLogger func(string, ...any)

func (l logfLogger) Printf(format string, args ...any) { l(format, args...) }

func tcLogger(logf func(string, ...any)) tclog.Logger {
	if logf == nil {
		return tclog.NewNoopLogger()
	}
	return logfLogger(logf)
}
