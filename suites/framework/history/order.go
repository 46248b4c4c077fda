package history

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// This file builds, per topic, the precedence graph the Ordered and Resumable rules share, and
// explains an inconsistency with evidence.
//
// Nodes are the seqs observed on the topic plus the seqs of its ok publishes. Edges:
//   - observer edges: a -> b when one connection received a and then b next (first receipts
//     only, foreign events skipped);
//   - real-time edges: a -> b when a's publish-ok was recorded before b's publish-invoke. They
//     are encoded through a chain of barrier nodes (one per publish-ok, in time order) so that
//     there are O(n) of them rather than O(n²).
// A total order fitting every observation exists if and only if the graph is acyclic.

// edgeSrc is where an edge comes from: an observer connection, or real time (c == nil).
type edgeSrc struct {
	c      *conn
	ta, tb time.Duration
}

type observer struct {
	c    *conn
	seqs []int64
	ts   []time.Duration
}

type graph struct {
	node   seqIndex   // seq -> node
	seq    []int64    // node -> seq; NoSeq for a barrier
	pub    []*publish // node -> publish, nil for a barrier or an unpublished seq
	out    [][]int
	in     [][]int
	src    map[[2]int]edgeSrc
	obs    []observer
	pos    []int // node -> position in a linear extension (valid when !cyclic)
	cyclic bool
	left   []int // node -> in-degree left after Kahn: > 0 for the nodes it could not order
}

func buildGraph(x *index, tp *topic) *graph {
	g := &graph{src: map[[2]int]edgeSrc{}}
	var seen []int32 // node -> the generation (connection) that last received its seq
	var gen int32
	for _, cl := range tp.clients {
		for _, c := range cl.conns {
			if c.topic != tp.name {
				continue
			}
			o := observer{c: c}
			gen++ // seen[n] == gen: this connection already received node n's seq
			for _, i := range c.evs {
				op := x.h.Ops[i]
				if op.Seq < 0 {
					continue
				}
				n := g.add(op.Seq, tp)
				for len(seen) <= n {
					seen = append(seen, 0)
				}
				if seen[n] == gen {
					continue
				}
				seen[n] = gen
				o.seqs, o.ts = append(o.seqs, op.Seq), append(o.ts, op.T)
			}
			g.obs = append(g.obs, o)
		}
	}
	for _, p := range tp.pubs {
		if p.ok() {
			g.add(p.seq, tp)
		}
	}
	for _, o := range g.obs {
		for k := 1; k < len(o.seqs); k++ {
			g.edge(g.nodeOf(o.seqs[k-1]), g.nodeOf(o.seqs[k]), edgeSrc{c: o.c, ta: o.ts[k-1], tb: o.ts[k]})
		}
	}
	g.realTime()
	g.sort()
	return g
}

func (g *graph) add(seq int64, tp *topic) int {
	if n, ok := g.node.get(seq); ok {
		return n
	}
	n := g.newNode(seq, tp.publish(seq))
	g.node.set(seq, n)
	return n
}

// nodeOf is seq's node, 0 when seq has none (as a map's zero value; callers ask only for seqs
// they added).
func (g *graph) nodeOf(seq int64) int {
	n, _ := g.node.get(seq)
	return n
}

func (g *graph) newNode(seq int64, p *publish) int {
	g.seq, g.pub = append(g.seq, seq), append(g.pub, p)
	g.out, g.in = append(g.out, nil), append(g.in, nil)
	return len(g.seq) - 1
}

func (g *graph) edge(a, b int, s edgeSrc) {
	k := [2]int{a, b}
	if _, ok := g.src[k]; ok || a == b {
		return
	}
	g.src[k] = s
	g.out[a], g.in[b] = append(g.out[a], b), append(g.in[b], a)
}

// realTime adds the barrier chain: every publish-ok creates a barrier after the previous one;
// an invoke hangs after the latest barrier created strictly before it.
func (g *graph) realTime() {
	type tev struct {
		t      time.Duration
		invoke bool
		n      int
	}
	var evs []tev
	for n, p := range g.pub {
		if p == nil {
			continue
		}
		evs = append(evs, tev{p.invoke, true, n})
		if p.ok() {
			evs = append(evs, tev{p.done, false, n})
		}
	}
	sort.SliceStable(evs, func(i, j int) bool {
		if evs[i].t != evs[j].t {
			return evs[i].t < evs[j].t
		}
		return evs[i].invoke && !evs[j].invoke // at equal times there is no "before"
	})
	cur := -1
	for _, e := range evs {
		if e.invoke {
			if cur >= 0 {
				g.edge(cur, e.n, edgeSrc{})
			}
			continue
		}
		b := g.newNode(NoSeq, nil)
		g.edge(e.n, b, edgeSrc{})
		if cur >= 0 {
			g.edge(cur, b, edgeSrc{})
		}
		cur = b
	}
}

// sort computes a linear extension (Kahn, FIFO in node order, so deterministic) or marks the
// graph cyclic.
func (g *graph) sort() {
	indeg := make([]int, len(g.seq))
	for n := range g.in {
		indeg[n] = len(g.in[n])
	}
	var queue []int
	for n, d := range indeg {
		if d == 0 {
			queue = append(queue, n)
		}
	}
	g.pos = make([]int, len(g.seq))
	done := 0
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		g.pos[n] = done
		done++
		for _, m := range g.out[n] {
			if indeg[m]--; indeg[m] == 0 {
				queue = append(queue, m)
			}
		}
	}
	g.cyclic = done < len(g.seq)
	if g.cyclic {
		g.pos, g.left = nil, indeg
	}
}

// reach marks the nodes reachable from n (n included), following edges forward or backward.
func (g *graph) reach(n int, forward bool) []bool {
	return g.reachWithin(n, forward, 0, len(g.seq))
}

// reachWithin is reach restricted to nodes whose linear-extension position is within [lo, hi]
// (no restriction on a cyclic graph). A path from a to b only visits positions between theirs,
// so the restriction keeps the common case — a resume to the next seq — cheap.
func (g *graph) reachWithin(n int, forward bool, lo, hi int) []bool {
	adj := g.out
	if !forward {
		adj = g.in
	}
	seen := make([]bool, len(g.seq))
	seen[n] = true
	stack := []int{n}
	for len(stack) > 0 {
		m := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, k := range adj[m] {
			if seen[k] || g.pos != nil && (g.pos[k] < lo || g.pos[k] > hi) {
				continue
			}
			seen[k] = true
			stack = append(stack, k)
		}
	}
	return seen
}

// precedes reports whether a path leads from a to b (a precedes b in every fitting order).
func (g *graph) precedes(a, b int) bool {
	if g.pos == nil {
		return g.reach(a, true)[b]
	}
	if g.pos[a] >= g.pos[b] {
		return false
	}
	return g.reachWithin(a, true, g.pos[a], g.pos[b])[b]
}

// between lists the seqs that must lie strictly between a and b in every fitting order, in
// order. It needs an acyclic graph.
func (g *graph) between(a, b int) []int64 {
	if g.pos[a] >= g.pos[b] {
		return nil
	}
	lo, hi := g.pos[a], g.pos[b]
	desc, anc := g.reachWithin(a, true, lo, hi), g.reachWithin(b, false, lo, hi)
	var ns []int
	for n := range g.seq {
		if desc[n] && anc[n] && n != a && n != b && g.seq[n] != NoSeq {
			ns = append(ns, n)
		}
	}
	sort.Slice(ns, func(i, j int) bool { return g.pos[ns[i]] < g.pos[ns[j]] })
	out := make([]int64, len(ns))
	for i, n := range ns {
		out[i] = g.seq[n]
	}
	return out
}

// inconsistency explains why no total order fits (call only when cyclic): a pair of observers
// that disagree, else one observer against the real-time order, else a cycle.
func (g *graph) inconsistency() (client string, t time.Duration, msg string) {
	for i, x := range g.obs {
		posX := make(map[int64]int, len(x.seqs))
		for k, s := range x.seqs {
			posX[s] = k
		}
		for _, y := range g.obs[i+1:] {
			hi := -1 // index in y of the common seq with the highest position in x so far
			for k, s := range y.seqs {
				p, ok := posX[s]
				if !ok {
					continue
				}
				if hi >= 0 && p < posX[y.seqs[hi]] {
					a, b := y.seqs[hi], s // y saw a before b; x saw b before a
					return x.c.cl.name, y.ts[k], fmt.Sprintf(
						"%s saw seq %d (t=%s) before seq %d (t=%s), but %s saw seq %d (t=%s) before seq %d (t=%s)",
						obsName(x, y), b, fmtT(x.ts[p]), a, fmtT(x.ts[posX[a]]),
						obsName(y, x), a, fmtT(y.ts[hi]), b, fmtT(y.ts[k]))
				}
				if hi < 0 || p > posX[y.seqs[hi]] {
					hi = k
				}
			}
		}
	}
	for _, o := range g.obs {
		// minAt[k]: the index in o.seqs[k:] of the earliest publish-ok (-1: none).
		minAt := make([]int, len(o.seqs)+1)
		minAt[len(o.seqs)] = -1
		for k := len(o.seqs) - 1; k >= 0; k-- {
			minAt[k] = minAt[k+1]
			if p := g.pub[g.nodeOf(o.seqs[k])]; p != nil && p.ok() &&
				(minAt[k] < 0 || p.done < g.pub[g.nodeOf(o.seqs[minAt[k]])].done) {
				minAt[k] = k
			}
		}
		for k, s := range o.seqs {
			p, j := g.pub[g.nodeOf(s)], minAt[k+1]
			if p == nil || j < 0 {
				continue
			}
			if q := g.pub[g.nodeOf(o.seqs[j])]; q.done < p.invoke {
				return o.c.cl.name, o.ts[j], fmt.Sprintf(
					"%s saw seq %d (t=%s) before seq %d (t=%s), but seq %d was published (ok at t=%s) before seq %d was invoked (t=%s)",
					o.c.cl.name, s, fmtT(o.ts[k]), q.seq, fmtT(o.ts[j]), q.seq, fmtT(q.done), s, fmtT(p.invoke))
			}
		}
	}
	return g.cycle()
}

// obsName names an observer, with its connection number when both observers are one client.
func obsName(o, other observer) string {
	if o.c.cl == other.c.cl {
		return o.c.label()
	}
	return o.c.cl.name
}

// cycle finds a cycle among the nodes Kahn could not order and describes it step by step.
func (g *graph) cycle() (string, time.Duration, string) {
	indeg := g.left
	// Every remaining node has a remaining predecessor: walk backward until a node repeats.
	start := -1
	for n, d := range indeg {
		if d > 0 {
			start = n
			break
		}
	}
	if start < 0 {
		return "", 0, "no order fits the observations"
	}
	at := map[int]int{}
	var walk []int
	for n := start; ; {
		if k, ok := at[n]; ok {
			walk = walk[k:]
			break
		}
		at[n] = len(walk)
		walk = append(walk, n)
		for _, m := range g.in[n] {
			if indeg[m] > 0 {
				n = m
				break
			}
		}
	}
	// walk is a backward cycle; reverse it and rotate it to start at a seq node.
	cyc := make([]int, len(walk))
	for i, n := range walk {
		cyc[len(walk)-1-i] = n
	}
	for g.seq[cyc[0]] == NoSeq {
		cyc = append(cyc[1:], cyc[0])
	}
	cyc = append(cyc, cyc[0])
	var steps []string
	var client string
	var last time.Duration
	for i := 0; i+1 < len(cyc); {
		a := cyc[i]
		j := i + 1
		s := g.src[[2]int{a, cyc[j]}]
		if s.c == nil { // real time: skip the barriers up to the next seq
			for g.seq[cyc[j]] == NoSeq {
				j++
			}
			b := cyc[j]
			steps = append(steps, fmt.Sprintf("seq %d was published (ok at t=%s) before seq %d was invoked (t=%s)",
				g.seq[a], fmtT(g.pub[a].done), g.seq[b], fmtT(g.pub[b].invoke)))
		} else { // one observer: extend while the same connection continues
			e := s
			for j+1 < len(cyc) {
				nx := g.src[[2]int{cyc[j], cyc[j+1]}]
				if nx.c != s.c {
					break
				}
				e, j = nx, j+1
			}
			if client == "" {
				client = s.c.cl.name
			}
			last = max(last, e.tb)
			steps = append(steps, fmt.Sprintf("%s saw seq %d (t=%s) before seq %d (t=%s)",
				s.c.label(), g.seq[a], fmtT(s.ta), g.seq[cyc[j]], fmtT(e.tb)))
		}
		i = j
	}
	if len(steps) > 8 {
		steps = append(steps[:8], fmt.Sprintf("… (%d more steps)", len(steps)-8))
	}
	return client, last, "no single order fits the observations: " + strings.Join(steps, "; ") +
		", which closes a cycle"
}
