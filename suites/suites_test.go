// The `go test` entry point of the suites: the same specs the CLI runs.
//
//	go test ./suites/                                         # against ../ginkgo.yaml (the reference)
//	go test ./suites/ -args -rtconform.config=/path/my.yaml   # against your own target
//	go test ./suites/ -args -ginkgo.label-filter='sse && must'
//	go test ./suites/ -args -rtconform.concurrency=1           # one check at a time
package suites_test

import (
	"context"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2"

	fw "github.com/rtconform/rtconform/suites/framework"

	_ "github.com/rtconform/rtconform/suites/all"
)

var (
	configPath  = flag.String("rtconform.config", "../ginkgo.yaml", "target profile")
	concurrency = flag.Int("rtconform.concurrency", fw.DefaultConcurrency, "how many checks are judged at once (1: one after the other)")
)

func TestSuites(t *testing.T) {
	profile, err := fw.Load(*configPath, fw.Overrides{ReportDir: ptr(t.TempDir())})
	if err != nil {
		t.Fatalf("configuration error: %v", err)
	}
	reference := profile.Target.URL == "" // the bundled reference: every check must pass
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	run, err := fw.Setup(ctx, profile)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer run.Teardown()
	suiteCfg, repCfg := ginkgo.GinkgoConfiguration()
	suiteCfg.LabelFilter = fw.EffectiveLabelFilter(suiteCfg.LabelFilter)
	if err := run.Schedule(suiteCfg.LabelFilter, *concurrency); err != nil {
		t.Fatal(err)
	}
	ginkgo.RunSpecs(t, "rtconform", suiteCfg, repCfg)
	doc := fw.LastReport()
	if doc == nil {
		t.Fatal("the suite produced no conformance report")
	}
	fw.PrintSummary(os.Stdout, *doc, profile.Report.Dir)
	if reference {
		for _, r := range doc.Checks {
			if r.Verdict != fw.PASS && r.Verdict != fw.INFOV {
				t.Errorf("the reference server must pass every check: %s is %s: %s", r.ID, r.Verdict, r.Message)
			}
		}
		if len(doc.Checks) == 0 && ginkgoLabelFilter() == "" {
			t.Error("no check ran")
		}
	}
}

func ginkgoLabelFilter() string {
	s, _ := ginkgo.GinkgoConfiguration()
	return s.LabelFilter
}

func ptr[T any](v T) *T { return &v }
