/** Reported in the node record and by --version; kept equal to package.json's version. */
export const VERSION = '0.1.0';
