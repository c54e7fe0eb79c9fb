// A bar chart drawn as SVG: a title, the y axis with its scale, a label under each bar (every
// `labelEvery`th, so they do not crowd), the value above each bar that has one, and the same numbers
// as a table a screen reader (or anyone who opens it) can read. Nothing is told by colour alone:
// every bar is labelled by position and its number.
import { useId } from 'preact/hooks';

export interface Bar {
  /** Under the bar (short: "12 Nov"). */
  label: string;
  /** In the table and the bar's tooltip (long: "12 Nov 2026"). */
  longLabel: string;
  value: number;
}

const WIDTH = 600;
const HEIGHT = 280;
const PAD = { top: 24, right: 12, bottom: 52, left: 52 };

/** 0, then a few round steps up to at least `max`. */
function ticksFor(max: number): number[] {
  if (max <= 0) return [0, 1];
  const rough = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? rough;
  const whole = Math.max(1, Math.ceil(step));
  const ticks: number[] = [];
  for (let t = 0; t < max + whole; t += whole) ticks.push(t);
  return ticks;
}

export function BarChart({ title, summary, bars, xLabel, yLabel, labelEvery = 1 }: { title: string; summary: string; bars: Bar[]; xLabel: string; yLabel: string; labelEvery?: number }) {
  const id = useId();
  const ticks = ticksFor(Math.max(0, ...bars.map((b) => b.value)));
  const top = ticks[ticks.length - 1] ?? 1;
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, bars.length);
  const barW = Math.max(2, slot * 0.7);
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH;
  return (
    <figure class="chart" aria-labelledby={`${id}-title`}>
      <figcaption id={`${id}-title`} class="chart-title">
        {title}
      </figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={`${title}. ${summary}`} class="chart-svg" preserveAspectRatio="xMidYMid meet">
        {ticks.map((t) => (
          <g key={t}>
            <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(t)} y2={y(t)} class="chart-grid" />
            <text x={PAD.left - 6} y={y(t) + 4} text-anchor="end" class="chart-tick">
              {t}
            </text>
          </g>
        ))}
        {bars.map((b, i) => {
          const x = PAD.left + i * slot + (slot - barW) / 2;
          return (
            <g key={b.longLabel}>
              <rect x={x} y={y(b.value)} width={barW} height={Math.max(0, PAD.top + plotH - y(b.value))} class="chart-bar">
                <title>{`${b.longLabel}: ${b.value}`}</title>
              </rect>
              {b.value > 0 && (
                <text x={x + barW / 2} y={y(b.value) - 4} text-anchor="middle" class="chart-value">
                  {b.value}
                </text>
              )}
              {i % labelEvery === 0 && (
                <text x={x + barW / 2} y={PAD.top + plotH + 20} text-anchor="middle" class="chart-tick">
                  {b.label}
                </text>
              )}
            </g>
          );
        })}
        <line x1={PAD.left} x2={WIDTH - PAD.right} y1={PAD.top + plotH} y2={PAD.top + plotH} class="chart-axis" />
        <text x={PAD.left + plotW / 2} y={HEIGHT - 6} text-anchor="middle" class="chart-axis-label">
          {xLabel}
        </text>
        <text x={16} y={PAD.top + plotH / 2} text-anchor="middle" transform={`rotate(-90 16 ${PAD.top + plotH / 2})`} class="chart-axis-label">
          {yLabel}
        </text>
      </svg>
      <details class="chart-data">
        <summary>Show the numbers as a table</summary>
        <table>
          <caption class="visually-hidden">{title}</caption>
          <thead>
            <tr>
              <th scope="col">{xLabel}</th>
              <th scope="col" class="numeric">
                {yLabel}
              </th>
            </tr>
          </thead>
          <tbody>
            {bars.map((b) => (
              <tr key={b.longLabel}>
                <th scope="row">{b.longLabel}</th>
                <td class="numeric">{b.value}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
