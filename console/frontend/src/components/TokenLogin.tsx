import { useState } from 'react';
import { ActionGroup, Button, Content, Form, FormGroup, PageSection, TextInput, Title } from '@patternfly/react-core';
import { setToken } from '../api';

// TokenLogin is for local use without an authenticating proxy: the user
// pastes a token (kubectl create token, oc whoami -t) that the browser
// keeps for this tab only.
export function TokenLogin({ onDone, message }: { onDone: () => void; message?: string }) {
  const [value, setValue] = useState('');
  return (
    <PageSection>
      <Title headingLevel="h1">Sign in</Title>
      <Content component="p">
        {message ?? 'The console acts with your own Kubernetes identity.'} Paste a bearer token, for example from{' '}
        <code>kubectl create token NAME -n NAMESPACE</code> or <code>oc whoami -t</code>. It is kept in this browser tab only.
      </Content>
      <Form
        onSubmit={(e) => {
          e.preventDefault();
          setToken(value.trim());
          onDone();
        }}
      >
        <FormGroup label="Bearer token" isRequired fieldId="token">
          <TextInput id="token" type="password" value={value} onChange={(_e, v) => setValue(v)} isRequired />
        </FormGroup>
        <ActionGroup>
          <Button type="submit" isDisabled={!value.trim()}>
            Sign in
          </Button>
        </ActionGroup>
      </Form>
    </PageSection>
  );
}
