// The vendored files of swagger-ui-dist, imported as text (esbuild inlines them: docs-assets.ts).
declare module 'swagger-ui-dist/swagger-ui-bundle.js' {
  const text: string;
  export default text;
}
declare module 'swagger-ui-dist/swagger-ui.css' {
  const text: string;
  export default text;
}
