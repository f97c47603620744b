package bench

import (
	"fmt"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// WritePlot draws the report's time series as an SVG file: latency
// percentiles above, deliveries per second below, over seconds since the
// load started.
func (r *Report) WritePlot(path string) error {
	latency := plot.New()
	latency.Title.Text = fmt.Sprintf("tailcast bench %s: %d clients, %s format", r.RunID, r.Connect.Connected, r.Format)
	latency.Y.Label.Text = "latency from append to receipt (ms)"
	latency.X.Label.Text = "seconds since load start"
	latency.Legend.Top = true
	latency.Legend.Left = true
	latency.Y.Min = 0
	latency.Add(plotter.NewGrid())

	percentiles := []struct {
		name  string
		value func(SeriesPoint) float64
	}{
		{"p50", func(p SeriesPoint) float64 { return p.P50Ms }},
		{"p90", func(p SeriesPoint) float64 { return p.P90Ms }},
		{"p99", func(p SeriesPoint) float64 { return p.P99Ms }},
		{"p99.9", func(p SeriesPoint) float64 { return p.P999Ms }},
		{"max", func(p SeriesPoint) float64 { return p.MaxMs }},
	}
	for i, percentile := range percentiles {
		points := make(plotter.XYs, len(r.Series))
		for j, point := range r.Series {
			points[j] = plotter.XY{X: point.StartSeconds, Y: percentile.value(point)}
		}
		line, err := plotter.NewLine(points)
		if err != nil {
			return fmt.Errorf("bench: plot %s: %w", percentile.name, err)
		}
		line.Color = plotutil.Color(i)
		line.Width = vg.Points(1.5)
		latency.Add(line)
		latency.Legend.Add(percentile.name, line)
	}

	rate := plot.New()
	rate.Y.Label.Text = "line deliveries per second"
	rate.Y.Min = 0
	rate.X.Label.Text = "seconds since load start"
	rate.Add(plotter.NewGrid())
	points := make(plotter.XYs, len(r.Series))
	for j, point := range r.Series {
		points[j] = plotter.XY{X: point.StartSeconds, Y: point.PerSecond}
	}
	line, err := plotter.NewLine(points)
	if err != nil {
		return fmt.Errorf("bench: plot deliveries: %w", err)
	}
	line.Color = plotutil.Color(0)
	line.Width = vg.Points(1.5)
	rate.Add(line)

	canvas := vgsvg.New(9*vg.Inch, 8*vg.Inch)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 8,
		PadTop: vg.Millimeter * 4, PadBottom: vg.Millimeter * 4, PadLeft: vg.Millimeter * 4, PadRight: vg.Millimeter * 4}
	plots := [][]*plot.Plot{{latency}, {rate}}
	canvases := plot.Align(plots, tiles, draw.New(canvas))
	latency.Draw(canvases[0][0])
	rate.Draw(canvases[1][0])

	file, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: write plot: %w", err)
	}
	if _, err := canvas.WriteTo(file); err != nil {
		file.Close()
		return fmt.Errorf("bench: write plot %s: %w", path, err)
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("bench: write plot %s: %w", path, err)
	}
	return nil
}
