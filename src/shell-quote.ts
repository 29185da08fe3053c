/** `text` single-quoted for sh, so that none of its characters is special: for the shell files hasocks writes. */
export const shellQuote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;
