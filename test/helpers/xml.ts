import { SaxesParser } from 'saxes';

export interface XmlSummary {
  /** Element names in document order. */
  readonly elements: string[];
  /** Every text node's content, entities decoded. */
  readonly texts: string[];
  /** Attributes of every element, in document order. */
  readonly attributes: Array<{ element: string; attrs: Record<string, string> }>;
}

/**
 * Parses with saxes, a strict XML 1.0 (and namespaces) parser: anything not well-formed
 * throws with the parser's message and position.
 */
export function parseXml(text: string): XmlSummary {
  const summary: XmlSummary = { elements: [], texts: [], attributes: [] };
  const parser = new SaxesParser({ xmlns: true });
  parser.on('error', (err) => {
    throw err;
  });
  parser.on('opentag', (tag) => {
    summary.elements.push(tag.name);
    summary.attributes.push({ element: tag.name, attrs: Object.fromEntries(Object.entries(tag.attributes).map(([k, a]) => [k, a.value])) });
  });
  parser.on('text', (t) => {
    if (t.trim()) summary.texts.push(t);
  });
  parser.write(text).close();
  return summary;
}
