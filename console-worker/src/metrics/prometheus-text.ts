/*
 * A small writer of the Prometheus text exposition format (0.0.4). The console runs on
 * workerd, where prom-client's Node-only parts (cluster, process metrics) do not belong;
 * the console only reports values it reads at scrape time, so a writer is all it needs.
 */

export type Labels = Record<string, string>;

/** One sample of a family: its labels and value (`suffix` for histogram parts: _bucket, _sum, _count). */
export interface Sample {
  labels?: Labels;
  value: number;
  suffix?: string;
}

/** A metric family: name, help, type and its samples. */
export interface MetricFamily {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  samples: Sample[];
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(v);
}

/** Renders families as Prometheus text; a family without samples still has its HELP and TYPE. */
export function renderPrometheus(families: MetricFamily[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const entries = Object.entries(s.labels ?? {});
      const labels = entries.length === 0 ? "" : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
      lines.push(`${f.name}${s.suffix ?? ""}${labels} ${formatValue(s.value)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The samples of a histogram from per-bucket counts: `le` buckets (cumulative, ending in
 * +Inf), `_sum` and `_count`, under the given labels.
 */
export function histogramSamples(
  bounds: readonly number[],
  cumulative: readonly number[],
  count: number,
  sum: number,
  labels: Labels,
): Sample[] {
  const samples: Sample[] = bounds.map((le, i) => ({
    suffix: "_bucket",
    labels: { ...labels, le: String(le) },
    value: cumulative[i] ?? 0,
  }));
  samples.push({ suffix: "_bucket", labels: { ...labels, le: "+Inf" }, value: count });
  samples.push({ suffix: "_sum", labels, value: sum });
  samples.push({ suffix: "_count", labels, value: count });
  return samples;
}
