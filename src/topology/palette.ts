/** One colour per network, the same in the DOT and SVG drawings; light for fills. */
const STRONG = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];
const LIGHT = ['#dbe9f6', '#f8d9d9', '#dcf0dc', '#e9e0f2', '#ffe8d1', '#d5f3f6', '#ece0dc', '#fae3f2'];

export function colorOf(index: number, tone: 'strong' | 'light' = 'strong'): string {
  const list = tone === 'strong' ? STRONG : LIGHT;
  return list[index % list.length]!;
}
