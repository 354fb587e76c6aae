// A horizontal bar chart as a standalone SVG: readable at a glance, no plotting dependency.

export interface Bar {
  label: string;
  value: number;
  /** Whisker: min..max of the repeated measurements. */
  min?: number;
  max?: number;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

export function barChartSvg(title: string, unit: string, bars: Bar[]): string {
  const width = 760;
  const left = 250;
  const right = 90;
  const rowHeight = 30;
  const top = 46;
  const height = top + bars.length * rowHeight + 30;
  const peak = Math.max(...bars.map((b) => b.max ?? b.value), 1e-9);
  const x = (v: number): number => left + ((width - left - right) * v) / peak;
  const rows = bars.map((bar, i) => {
    const y = top + i * rowHeight;
    const whisker =
      bar.min !== undefined && bar.max !== undefined
        ? `<line x1="${x(bar.min).toFixed(1)}" x2="${x(bar.max).toFixed(1)}" y1="${y + 11}" y2="${y + 11}" stroke="#333" stroke-width="1.5"/>`
        : '';
    return (
      `<text x="${left - 8}" y="${y + 15}" text-anchor="end" font-size="13">${escapeXml(bar.label)}</text>` +
      `<rect x="${left}" y="${y + 2}" width="${(x(bar.value) - left).toFixed(1)}" height="18" fill="#4a7bd0"/>` +
      whisker +
      `<text x="${(x(Math.max(bar.value, bar.max ?? 0)) + 6).toFixed(1)}" y="${y + 15}" font-size="12">${bar.value.toFixed(1)}</text>`
    );
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">` +
    `<rect width="100%" height="100%" fill="#fff"/>` +
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(title)}</text>` +
    `<text x="${width / 2}" y="${height - 8}" text-anchor="middle" font-size="12" fill="#555">${escapeXml(unit)} (median; whisker = min..max)</text>` +
    rows.join('') +
    `</svg>\n`
  );
}
