// Stylesheets are bundled by esbuild (console/build.ts).
declare module '*.css';
