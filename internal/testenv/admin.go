package testenv

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape of the admin endpoint's /metrics, parsed by the
// Prometheus text parser.
type Metrics map[string]*dto.MetricFamily

// AdminGet requests path from the admin endpoint and returns the status
// code and body.
func (s *Serve) AdminGet(path string) (int, string, error) {
	if s.AdminAddr == "" {
		return 0, "", fmt.Errorf("the admin endpoint's address is unknown; start serve with --admin 127.0.0.1:0")
	}
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + s.AdminAddr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// Scrape fetches /metrics and parses it, failing the test when the text
// does not parse.
func (s *Serve) Scrape(t testing.TB) Metrics {
	t.Helper()
	code, body, err := s.AdminGet("/metrics")
	if err != nil {
		t.Fatalf("scrape /metrics: %v", err)
	}
	if code != http.StatusOK {
		t.Fatalf("scrape /metrics: status %d: %s", code, body)
	}
	return ParseMetrics(t, body)
}

// ParseMetrics parses the Prometheus text format.
func ParseMetrics(t testing.TB, text string) Metrics {
	t.Helper()
	// Legacy validation: a metric name outside [a-zA-Z_:][a-zA-Z0-9_:]* is
	// a bug for Prometheus servers before 3.0.
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, text)
	}
	return families
}

// Value returns the sum of metric name's samples whose labels include
// every pair in labels ("worker", "0", ...), and whether any matched.
func (m Metrics) Value(name string, labels ...string) (float64, bool) {
	family := m[name]
	if family == nil {
		return 0, false
	}
	var sum float64
	found := false
	for _, metric := range family.GetMetric() {
		if !hasLabels(metric, labels) {
			continue
		}
		found = true
		switch {
		case metric.GetCounter() != nil:
			sum += metric.GetCounter().GetValue()
		case metric.GetGauge() != nil:
			sum += metric.GetGauge().GetValue()
		case metric.GetUntyped() != nil:
			sum += metric.GetUntyped().GetValue()
		}
	}
	return sum, found
}

func hasLabels(metric *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		matched := false
		for _, label := range metric.GetLabel() {
			if label.GetName() == pairs[i] && label.GetValue() == pairs[i+1] {
				matched = true
			}
		}
		if !matched {
			return false
		}
	}
	return true
}
