// Durations as people read them, like statesync_server/durations.py: `7d 2h`, `1m 30s`,
// `0.05s` (the two largest units; under a minute, seconds to three significant digits).
const UNITS = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];

export function duration(seconds) {
  const sign = seconds < 0 ? "-" : "";
  let rest = Math.abs(seconds);
  if (rest < 60) return `${sign}${Number(rest.toPrecision(3))}s`;
  rest = Math.floor(rest);
  const parts = [];
  for (const [unit, size] of UNITS) {
    const count = Math.floor(rest / size);
    rest -= count * size;
    if (count || parts.length) parts.push([count, unit]);
    if (parts.length === 2) break;
  }
  return sign + parts.filter(([count]) => count).map(([count, unit]) => `${count}${unit}`).join(" ");
}
