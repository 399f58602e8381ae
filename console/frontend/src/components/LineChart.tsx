import { useId } from 'react';
import type { Point } from '../types';

export interface LineChartProps {
  // title names the chart for screen readers and is drawn above it.
  title: string;
  points: Point[];
  // unit follows values in the labels and the description ("%", "samples/s").
  unit: string;
  // yMax fixes the top of the axis (100 for percentages); else the data's
  // maximum, rounded up.
  yMax?: number;
  // step is the series' step in seconds: a longer pause breaks the line.
  step?: number;
  width?: number;
  height?: number;
}

const pad = { left: 48, right: 12, top: 8, bottom: 22 };

export function formatValue(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (a >= 100 || Number.isInteger(v)) return v.toFixed(0);
  return v.toFixed(1);
}

function clock(t: number): string {
  return new Date(t * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// niceMax rounds up to 1, 2 or 5 times a power of ten.
function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// LineChart is a small SVG line chart: no charting library, an accessible
// title and a description that says what the line shows.
export function LineChart({ title, points, unit, yMax, step, width = 480, height = 160 }: LineChartProps) {
  const id = useId();
  const titleId = `${id}-title`;
  const descId = `${id}-desc`;
  const values = points.map((p) => p[1]);
  const latest = values.length ? values[values.length - 1] : undefined;
  const desc = values.length
    ? `${values.length} samples from ${clock(points[0][0])} to ${clock(points[points.length - 1][0])}: ` +
      `latest ${formatValue(latest!)} ${unit}, lowest ${formatValue(Math.min(...values))} ${unit}, highest ${formatValue(Math.max(...values))} ${unit}.`
    : 'No samples in this range.';

  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  const top = yMax ?? niceMax(Math.max(0, ...values));
  const t0 = points.length ? points[0][0] : 0;
  const t1 = points.length ? points[points.length - 1][0] : 1;
  const x = (t: number) => pad.left + (t1 > t0 ? ((t - t0) / (t1 - t0)) * w : w / 2);
  const y = (v: number) => pad.top + h - (Math.min(Math.max(v, 0), top) / top) * h;

  // One path, broken where samples are missing for more than two steps.
  let d = '';
  points.forEach(([t, v], i) => {
    const gap = i > 0 && step !== undefined && t - points[i - 1][0] > 2 * step;
    d += `${i === 0 || gap ? 'M' : 'L'}${x(t).toFixed(1)},${y(v).toFixed(1)} `;
  });

  return (
    <figure style={{ margin: 0 }}>
      <figcaption style={{ fontWeight: 'bold' }}>
        <span id={titleId}>{title}</span>
        {latest !== undefined && (
          <span style={{ fontWeight: 'normal' }}>
            {' '}
            — now {formatValue(latest)} {unit}
          </span>
        )}
      </figcaption>
      <svg
        role="img"
        aria-labelledby={titleId}
        aria-describedby={descId}
        viewBox={`0 0 ${width} ${height}`}
        width="100%"
        style={{ maxWidth: width, height: 'auto', display: 'block' }}
      >
        <title>{title}</title>
        <desc id={descId}>{desc}</desc>
        <g aria-hidden="true" fontSize="11" fill="var(--pf-t--global--text--color--subtle, #4d4d4d)">
          <line x1={pad.left} y1={pad.top + h} x2={pad.left + w} y2={pad.top + h} stroke="currentColor" strokeOpacity="0.4" />
          <line x1={pad.left} y1={pad.top} x2={pad.left + w} y2={pad.top} stroke="currentColor" strokeOpacity="0.15" />
          <text x={pad.left - 6} y={pad.top + 4} textAnchor="end">
            {formatValue(top)}
          </text>
          <text x={pad.left - 6} y={pad.top + h} textAnchor="end">
            0
          </text>
          {points.length > 0 && (
            <>
              <text x={pad.left} y={height - 6} textAnchor="start">
                {clock(t0)}
              </text>
              <text x={pad.left + w} y={height - 6} textAnchor="end">
                {clock(t1)}
              </text>
            </>
          )}
          {points.length === 0 && (
            <text x={pad.left + w / 2} y={pad.top + h / 2} textAnchor="middle">
              No data in this range
            </text>
          )}
        </g>
        {points.length === 1 && (
          <circle cx={x(t0)} cy={y(points[0][1])} r="3" fill="var(--pf-t--global--color--brand--default, #0066cc)" aria-hidden="true" />
        )}
        {points.length > 1 && (
          <path
            d={d.trim()}
            fill="none"
            stroke="var(--pf-t--global--color--brand--default, #0066cc)"
            strokeWidth="2"
            strokeLinejoin="round"
            aria-hidden="true"
          />
        )}
      </svg>
    </figure>
  );
}
