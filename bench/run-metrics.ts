/** callbridge's Prometheus /metrics, scraped into a map of series → value. */
export type Scrape = Map<string, number>;

export async function scrape(port: number): Promise<Scrape> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m: Scrape = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

/** A summary's quantile `q` ("0.5", "0.99", "1") in ms; NaN when the series is missing. */
export const ms = (s: Scrape, name: string, q: string) => (s.get(`${name}{quantile="${q}"}`) ?? NaN) * 1000;
