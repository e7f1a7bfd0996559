// Log–log line plots for `condiff bench`: a Vega specification built from the points,
// drawn headlessly (no DOM: renderer 'none') to SVG by vega and rasterised to PNG by
// sharp. Both packages are optional peer dependencies, loaded only when a plot is drawn.
import type { Spec } from 'vega';
import { MissingDependencyError } from '../errors';

type Vega = typeof import('vega');
type Sharp = typeof import('sharp');

export interface PlotLibraries {
  vega: Vega;
  sharp: Sharp;
}

/** Loads an ES module or package by name (the default is the runtime's own `import()`). */
export type ModuleImporter = (specifier: string) => Promise<unknown>;


function isModuleNotFound(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null ? (e as NodeJS.ErrnoException).code : undefined;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

/**
 * Loads vega and sharp; throws a MissingDependencyError naming what to install when one
 * of them (or a package it needs) is missing.
 */
export async function loadPlotLibraries(importModule: ModuleImporter = (specifier) => import(specifier)): Promise<PlotLibraries> {
  const load = async (name: 'vega' | 'sharp'): Promise<unknown> => {
    try {
      return await importModule(name);
    } catch (e) {
      if (!isModuleNotFound(e)) throw e;
      const reason = e instanceof Error ? e.message.split('\n')[0] : String(e);
      throw new MissingDependencyError(
        name,
        `the plots need the optional packages vega (>= 5.25) and sharp (>= 0.33); loading ${name} failed (${reason}). ` +
          'Install them with "npm install vega sharp", or pass --no-plots to write only results.json and the table',
        { cause: e },
      );
    }
  };
  const vega = (await load('vega')) as Vega;
  const sharpModule = (await load('sharp')) as { default?: Sharp } & Sharp;
  // sharp is CommonJS: import() puts its export under `default`.
  return { vega, sharp: sharpModule.default ?? sharpModule };
}

export interface PlotPoint {
  /** The line the point belongs to (legend entry). */
  series: string;
  x: number;
  y: number;
  /** Short text beside the point, e.g. "N=64"; empty for none. */
  label: string;
}

export interface LogLogPlot {
  title: string;
  subtitle?: string;
  xTitle: string;
  yTitle: string;
  points: readonly PlotPoint[];
  /** A dashed horizontal reference line (e.g. the noise floor). */
  reference?: { y: number; label: string };
  /**
   * Draw a series of one point as a flat dotted line across the plot: right for a quantity
   * that does not depend on x (the error of a method with nothing to sweep), wrong for one
   * that does (its time). Default false.
   */
  singlePointsAsLines?: boolean;
}

const WIDTH = 560;
const HEIGHT = 340;

/**
 * The Vega specification of a log–log plot: one coloured line with markers per series
 * (optionally a flat dotted line for a series of one point) and an optional dashed
 * reference line. Points with a non-positive or non-finite coordinate cannot sit on log
 * axes and are left out.
 */
export function logLogSpec(plot: LogLogPlot): Spec {
  const points = plot.points.filter((p) => p.x > 0 && p.y > 0 && Number.isFinite(p.x) && Number.isFinite(p.y));
  const counts = new Map<string, number>();
  for (const p of points) counts.set(p.series, (counts.get(p.series) ?? 0) + 1);
  const lines = points.filter((p) => counts.get(p.series)! > 1).sort((a, b) => a.x - b.x);
  const flat = plot.singlePointsAsLines ? points.filter((p) => counts.get(p.series) === 1) : [];
  const reference = plot.reference && plot.reference.y > 0 && Number.isFinite(plot.reference.y) ? [plot.reference] : [];
  const yDomain = [{ data: 'points', field: 'y' }, ...(reference.length > 0 ? [{ data: 'reference', field: 'y' }] : [])];
  const colour = { scale: 'colour', field: 'series' };
  return {
    $schema: 'https://vega.github.io/schema/vega/v5.json',
    width: WIDTH,
    height: HEIGHT,
    padding: 12,
    background: 'white',
    title: { text: plot.title, subtitle: plot.subtitle, anchor: 'start', fontSize: 14 },
    data: [
      { name: 'points', values: points },
      { name: 'lines', values: lines },
      { name: 'flat', values: flat },
      { name: 'reference', values: reference },
    ],
    scales: [
      { name: 'x', type: 'log', domain: { data: 'points', field: 'x' }, range: 'width', nice: true },
      { name: 'y', type: 'log', domain: { fields: yDomain }, range: 'height', nice: true },
      { name: 'colour', type: 'ordinal', domain: { data: 'points', field: 'series' }, range: 'category' },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: plot.xTitle, grid: true, format: '~s', gridOpacity: 0.4 },
      { orient: 'left', scale: 'y', title: plot.yTitle, grid: true, format: '~g', gridOpacity: 0.4 },
    ],
    legends: [{ stroke: 'colour', fill: 'colour', title: 'method', orient: 'right', symbolType: 'circle' }],
    marks: [
      {
        type: 'rule',
        from: { data: 'reference' },
        encode: {
          enter: {
            x: { value: 0 },
            x2: { signal: 'width' },
            y: { scale: 'y', field: 'y' },
            stroke: { value: '#555' },
            strokeDash: { value: [6, 4] },
          },
        },
      },
      {
        type: 'text',
        from: { data: 'reference' },
        encode: {
          enter: {
            x: { signal: 'width' },
            y: { scale: 'y', field: 'y' },
            dy: { value: -5 },
            align: { value: 'right' },
            text: { field: 'label' },
            fill: { value: '#555' },
            fontSize: { value: 11 },
          },
        },
      },
      {
        type: 'rule',
        from: { data: 'flat' },
        encode: {
          enter: {
            x: { value: 0 },
            x2: { signal: 'width' },
            y: { scale: 'y', field: 'y' },
            stroke: colour,
            strokeWidth: { value: 2 },
            strokeDash: { value: [2, 3] },
          },
        },
      },
      {
        type: 'group',
        from: { facet: { name: 'series', data: 'lines', groupby: 'series' } },
        marks: [
          {
            type: 'line',
            from: { data: 'series' },
            encode: {
              enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' }, stroke: colour, strokeWidth: { value: 2 } },
            },
          },
        ],
      },
      {
        type: 'symbol',
        from: { data: 'points' },
        encode: {
          enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' }, fill: colour, size: { value: 40 } },
        },
      },
      {
        type: 'text',
        from: { data: 'points' },
        encode: {
          enter: {
            x: { scale: 'x', field: 'x' },
            y: { scale: 'y', field: 'y' },
            dx: { value: 5 },
            dy: { value: -6 },
            text: { field: 'label' },
            fill: colour,
            fontSize: { value: 10 },
          },
        },
      },
    ],
  };
}

/** Renders `spec` as SVG and PNG (2x resolution); the caller writes them (output.ts). */
export async function renderPlot(libs: PlotLibraries, spec: Spec): Promise<{ svg: Buffer; png: Buffer }> {
  const view = new libs.vega.View(libs.vega.parse(spec), { renderer: 'none' });
  try {
    const svg = Buffer.from(await view.toSVG());
    // density 144 = twice the SVG's 72 dpi, for sharp lines on high-resolution screens.
    const png = await libs.sharp(svg, { density: 144 }).png().toBuffer();
    return { svg, png };
  } finally {
    view.finalize();
  }
}
