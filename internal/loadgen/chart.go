//go:build linux

package loadgen

import (
	"fmt"
	"math"
	"os"
	"strings"
)

// WriteChart draws the CPU each call costs per second of media against
// the number of calls, for the gateway and both floors, as SVG.
func WriteChart(path string, runs []SweepRun, subtitle string) error {
	type series struct {
		name, color string
		dy          float64 // where its value labels go, from the point
		pts         [][2]float64
	}
	ss := []*series{
		{name: "hubline gateway", color: "#d9480f", dy: -8},
		{name: "floor: bare UDP+SRTP relay (epoll)", color: "#1971c2", dy: -8},
		{name: "floor: bare UDP relay (epoll)", color: "#2f9e44", dy: 16},
	}
	for _, p := range points(runs) {
		if p.gateway != nil {
			ss[0].pts = append(ss[0].pts, [2]float64{float64(p.calls), cpuUS(p.gateway)})
		}
		if m, _ := mean(p.srtp, cpuUS); m > 0 {
			ss[1].pts = append(ss[1].pts, [2]float64{float64(p.calls), m})
		}
		if m, _ := mean(p.udp, cpuUS); m > 0 {
			ss[2].pts = append(ss[2].pts, [2]float64{float64(p.calls), m})
		}
	}
	var xmax, ymax float64
	for _, s := range ss {
		for _, p := range s.pts {
			xmax, ymax = math.Max(xmax, p[0]), math.Max(ymax, p[1])
		}
	}
	if xmax == 0 || ymax == 0 {
		return fmt.Errorf("loadgen: nothing to chart")
	}
	xmax, ymax = niceCeil(xmax), niceCeil(ymax*1.1)
	const (
		w, h                  = 760, 440
		left, right, top, bot = 80, 60, 60, 110
	)
	pw, ph := float64(w-left-right), float64(h-top-bot)
	x := func(v float64) float64 { return float64(left) + v/xmax*pw }
	y := func(v float64) float64 { return float64(top) + ph - v/ymax*ph }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="16" font-weight="bold">CPU per call, per second of media, against concurrent calls</text>`+"\n", left)
	fmt.Fprintf(&b, `<text x="%d" y="42" fill="#555">%s</text>`+"\n", left, escape(subtitle))
	for i := 0; i <= 5; i++ {
		v := ymax * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, w-right, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y(v)+4, trim(v))
	}
	for i := 0; i <= 5; i++ {
		v := xmax * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#ddd"/>`+"\n", x(v), x(v), top, y(0))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x(v), y(0)+16, trim(v))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">concurrent calls (each 50 packets/s each way, G.711 20 ms)</text>`+"\n", float64(left)+pw/2, y(0)+34)
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">µs of relay CPU per call-second</text>`+"\n", float64(top)+ph/2)
	for i, s := range ss {
		if len(s.pts) == 0 {
			continue
		}
		var path []string
		for _, p := range s.pts {
			path = append(path, fmt.Sprintf("%.1f,%.1f", x(p[0]), y(p[1])))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", s.color, strings.Join(path, " "))
		for _, p := range s.pts {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>`+"\n", x(p[0]), y(p[1]), s.color)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s" font-size="11">%s</text>`+"\n", x(p[0])+6+float64(i%2)*30, y(p[1])+s.dy, s.color, trim(p[1]))
		}
		ly := float64(h-bot) + 58 + float64(i)*16
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n", left, left+24, ly-4, ly-4, s.color)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f">%s</text>`+"\n", left+32, ly, escape(s.name))
	}
	b.WriteString("</svg>\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// niceCeil rounds up to a round number: 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8
// times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func trim(v float64) string {
	if v >= 100 || v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
