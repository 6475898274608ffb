import { GoogleGenAI } from '@google/genai';

/**
 * The @google/genai client both Gemini adapters (Live and the cascade's text model) use: the Gemini API
 * v1beta endpoint, or `baseUrl` (a proxy, or the test fakes).
 */
export function googleClient(apiKey: string, baseUrl?: string): GoogleGenAI {
  const httpOptions: { apiVersion: string; baseUrl?: string } = { apiVersion: 'v1beta' };
  if (baseUrl !== undefined) httpOptions.baseUrl = baseUrl;
  // vertexai: false so a stray GOOGLE_GENAI_USE_VERTEXAI in the environment cannot switch the endpoint.
  return new GoogleGenAI({ apiKey, vertexai: false, httpOptions });
}
