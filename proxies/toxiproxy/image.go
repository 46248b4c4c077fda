package toxiproxy

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

const toxiModule = "github.com/Shopify/toxiproxy/v2"

// ServerVersion is the Toxiproxy version this package is built with (from the
// module graph, e.g. "2.12.0"); the embedded server and LocalImage run it.
func ServerVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == toxiModule {
				if d.Replace != nil && d.Replace.Version != "" {
					d = d.Replace
				}
				if v := strings.TrimPrefix(d.Version, "v"); v != "" && v != "(devel)" {
					return v
				}
			}
		}
	}
	return "2.12.0" // go.mod's pin, for binaries without build info
}

// LocalImage is the tag of the image the container backend builds when the
// configured image can be neither found nor pulled: FROM scratch plus the
// Toxiproxy server compiled statically from the Go module at ServerVersion.
func LocalImage() string { return "rtconform/toxiproxy:" + ServerVersion() + "-local" }

var buildMu sync.Mutex // one image build at a time in this process

// resolveImage returns an image that is present in the daemon: the configured
// one if present or pullable, else LocalImage (built if missing). For the
// default image, a present LocalImage of the same version is taken before
// trying the registry: it is the same server, and the pull may be slow to fail.
func resolveImage(ctx context.Context, cli client.APIClient, want string, logf func(string, ...any)) (string, error) {
	if want == "" {
		want = DefaultImage
	}
	if ok, err := imagePresent(ctx, cli, want); err != nil {
		return "", err
	} else if ok {
		return want, nil
	}
	local := LocalImage()
	if want == DefaultImage && strings.HasSuffix(DefaultImage, ":"+ServerVersion()) {
		if ok, err := imagePresent(ctx, cli, local); err != nil {
			return "", err
		} else if ok {
			return local, nil
		}
	}
	logf("toxiproxy: pulling %s", want)
	if err := pullImage(ctx, cli, want); err == nil {
		return want, nil
	} else {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		logf("toxiproxy: cannot pull %s (%v); using %s", want, err, local)
	}

	buildMu.Lock()
	defer buildMu.Unlock()
	if ok, err := imagePresent(ctx, cli, local); err != nil {
		return "", err
	} else if ok {
		return local, nil
	}
	start := time.Now()
	logf("toxiproxy: building %s (go build of %s@v%s, then a FROM scratch image)", local, toxiModule, ServerVersion())
	if err := buildLocalImage(ctx, cli, local); err != nil {
		return "", fmt.Errorf("toxiproxy: image %s is not available and building %s failed: %w", want, local, err)
	}
	logf("toxiproxy: built %s in %s", local, time.Since(start).Round(time.Millisecond))
	return local, nil
}

func imagePresent(ctx context.Context, cli client.APIClient, ref string) (bool, error) {
	_, err := cli.ImageInspect(ctx, ref)
	if err == nil {
		return true, nil
	}
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("toxiproxy: inspect image %s: %w", ref, err)
}

func pullImage(ctx context.Context, cli client.APIClient, ref string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	resp, err := cli.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return err
	}
	defer resp.Close()
	return resp.Wait(ctx)
}

// dockerfile mirrors the upstream image: same entrypoint, default command and port.
const dockerfile = `FROM scratch
COPY toxiproxy /toxiproxy
EXPOSE 8474
ENV LOG_LEVEL=info
ENTRYPOINT ["/toxiproxy"]
CMD ["-host=0.0.0.0"]
`

func buildLocalImage(ctx context.Context, cli client.APIClient, tag string) error {
	dir, err := os.MkdirTemp("", "rtconform-toxiproxy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "toxiproxy")
	if err := buildServer(ctx, dir, bin); err != nil {
		return err
	}
	buildCtx, err := tarContext(bin)
	if err != nil {
		return err
	}
	res, err := cli.ImageBuild(ctx, buildCtx, client.ImageBuildOptions{
		Tags:        []string{tag},
		Remove:      true,
		ForceRemove: true,
		Labels: map[string]string{
			"org.opencontainers.image.version": ServerVersion(),
			"org.opencontainers.image.source":  "built by rtconform from " + toxiModule + "@v" + ServerVersion(),
		},
	})
	if err != nil {
		return fmt.Errorf("docker build: %w", err)
	}
	defer res.Body.Close()
	if err := buildStreamError(res.Body); err != nil {
		return fmt.Errorf("docker build: %w", err)
	}
	if ok, err := imagePresent(ctx, cli, tag); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("docker build reported success but %s is missing", tag)
	}
	return nil
}

// buildServer compiles Toxiproxy's server statically into bin. It builds in
// the current module when that one requires the same Toxiproxy version (the
// rtconform module: the pinned go.sum is used); otherwise in a throwaway module
// under dir that requires exactly ServerVersion.
func buildServer(ctx context.Context, dir, bin string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("building the Toxiproxy server needs the Go toolchain on PATH: %w", err)
	}
	version := "v" + ServerVersion()
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	run := func(wd string, args ...string) error {
		cmd := exec.CommandContext(ctx, goBin, args...)
		cmd.Dir = wd
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, tail(out.String(), 2000))
		}
		return nil
	}

	wd := "" // current directory
	out, err := exec.CommandContext(ctx, goBin, "list", "-m", "-f", "{{.Version}}", toxiModule).Output()
	if err != nil || strings.TrimSpace(string(out)) != version {
		wd = filepath.Join(dir, "mod")
		if err := os.Mkdir(wd, 0o755); err != nil {
			return err
		}
		if err := run(wd, "mod", "init", "rtconform.local/toxiproxy-build"); err != nil {
			return err
		}
		if err := run(wd, "get", toxiModule+"/cmd/server@"+version); err != nil {
			return err
		}
	}
	return run(wd, "build", "-trimpath", "-ldflags=-s -w -X "+toxiModule+".Version="+ServerVersion(),
		"-o", bin, toxiModule+"/cmd/server")
}

func tarContext(bin string) (io.Reader, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"toxiproxy", 0o755, data}}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// buildStreamError reads the daemon's JSON build stream to its end and returns
// the error it reports, if any.
func buildStreamError(r io.Reader) error {
	dec := json.NewDecoder(r)
	var lines []string
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if m.Stream != "" {
			lines = append(lines, strings.TrimRight(m.Stream, "\n"))
			if len(lines) > 20 {
				lines = lines[1:]
			}
		}
		if msg := m.ErrorDetail.Message; msg != "" || m.Error != "" {
			if msg == "" {
				msg = m.Error
			}
			return fmt.Errorf("%s\n%s", msg, strings.Join(lines, "\n"))
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
