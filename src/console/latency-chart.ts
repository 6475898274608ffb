import { svg } from './dom.ts';
import type { TurnLatency } from './latency.ts';

const ROW = 18;
const LABEL = 56;
const WIDTH = 320;

/** A small horizontal bar chart: per turn, pipeline latency and (where measured) heard latency. */
export function latencyChart(turns: TurnLatency[]): SVGElement {
  const max = Math.max(1, ...turns.flatMap((t) => [t.pipelineMs ?? 0, t.heardMs ?? 0]));
  const scale = (ms: number) => Math.max(1, ((WIDTH - LABEL - 50) * ms) / max);
  const height = turns.length * ROW * 2 + 4;
  const rows = turns.flatMap((t, i) => {
    const y = i * ROW * 2 + 2;
    const marks = Object.entries(t.marks)
      .map(([k, v]) => `${k} ${v} ms`)
      .join(', ');
    return [
      svg('text', { x: 0, y: y + 12, class: 'chart-label' }, `turn ${t.turn}`),
      t.pipelineMs !== undefined &&
        svg(
          'g',
          { 'data-testid': 'latency-pipeline' },
          svg(
            'rect',
            { x: LABEL, y, width: scale(t.pipelineMs), height: ROW - 6, class: 'bar-pipeline' },
            svg('title', {}, `pipeline: ${marks}`),
          ),
          svg('text', { x: LABEL + scale(t.pipelineMs) + 4, y: y + 11, class: 'chart-value' }, `${t.pipelineMs} ms`),
        ),
      t.heardMs !== undefined &&
        svg(
          'g',
          { 'data-testid': 'latency-heard' },
          svg(
            'rect',
            { x: LABEL, y: y + ROW - 4, width: scale(t.heardMs), height: ROW - 6, class: 'bar-heard' },
            svg('title', {}, `heard by the caller: ${t.heardMs} ms`),
          ),
          svg('text', { x: LABEL + scale(t.heardMs) + 4, y: y + ROW + 7, class: 'chart-value' }, `${t.heardMs} ms`),
        ),
    ].filter((x): x is SVGElement => !!x);
  });
  return svg(
    'svg',
    {
      viewBox: `0 0 ${WIDTH} ${height}`,
      width: '100%',
      role: 'img',
      'aria-label': 'Latency per turn',
      'data-testid': 'latency-chart',
    },
    ...rows,
  );
}
