import type { LambdaClient, LambdaClientConfig } from '@aws-sdk/client-lambda';

export interface StartLemuOptions {
  /** lemu.json as an object, or a path to one. */
  config?: object | string;
  /** A directory of function folders (each with a function.json), served when there is no config. */
  functionsDir?: string;
  /** More `lemu serve` arguments, e.g. ['--time-scale', '0.001']. */
  args?: string[];
  lemuBin?: string;
  env?: Record<string, string>;
  region?: string;
  clientConfig?: Partial<LambdaClientConfig>;
  /** The token lemu requires on /lemu/v1/ (default: the one lemu is started with, if any). */
  controlToken?: string;
}

export interface FaultOptions {
  function?: string;
  when?: object;
  times?: number;
  params?: object;
  match?: object | object[];
}

export interface Lemu {
  url: string;
  port: number;
  pid: number;
  client: LambdaClient;
  fault(rule: object | string, opts?: FaultOptions): Promise<string>;
  faults(): Promise<object[]>;
  clearFaults(id?: string): Promise<void>;
  logs(fn?: string): string;
  stderr(): string;
  metrics(): Promise<string>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; body: string }>;
  crashReport(): string | null;
  stop(): Promise<void>;
}

export declare class LemuError extends Error {}
export declare function startLemu(options?: StartLemuOptions): Promise<Lemu>;
export declare function findLemuBin(explicit?: string): string;
