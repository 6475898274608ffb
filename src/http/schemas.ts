/**
 * Request and response schemas of the HTTP API. They validate requests and generate /openapi.json.
 * Importers use this module; the schemas live in files by subject.
 */
export * from './schemas-service.ts';
export * from './schemas-call.ts';
export * from './schemas-requests.ts';
